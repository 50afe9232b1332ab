"""The deterministic ``NAME-VSN.tar.gz`` of a release."""

from __future__ import annotations

import gzip
import os
import tarfile
from pathlib import Path

from pyrelease.assemble.fsutil import source_date_epoch, walk_sorted
from pyrelease.errors import BuildError

# Never packed: runtime state and the cookie (a secret, made on the target).
EXCLUDED = ("tmp", "releases/COOKIE")


def _excluded(rel: str) -> bool:
    return any(rel == e or rel.startswith(e + "/") for e in EXCLUDED)


def write_tarball(release_dir: Path, dest: Path) -> Path:
    """Pack ``release_dir`` into ``dest``: sorted members, files and symlinks only,
    owner 0, modes 0644/0755, fixed times, gzip header without name or time.
    Written aside and renamed into place.
    """
    epoch = source_date_epoch()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        with (
            open(partial, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            members = sorted(
                (path.relative_to(release_dir).as_posix(), path)
                for path in walk_sorted(release_dir)
                if not (path.is_dir() and not path.is_symlink())
            )
            for rel, path in members:
                if _excluded(rel):
                    continue
                info = tar.gettarinfo(str(path), arcname=rel)
                if not (info.isreg() or info.issym() or info.islnk()):
                    raise BuildError(
                        f"{path} is neither a file, a folder nor a symlink, so it cannot be "
                        "packed into the tarball",
                        tip="remove it from the release (a step after assemble put it there)",
                    )
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = epoch
                info.pax_headers = {}
                if info.isreg():
                    info.mode = 0o755 if info.mode & 0o111 else 0o644
                    with open(path, "rb") as f:
                        tar.addfile(info, f)
                else:
                    info.mode = 0o777
                    tar.addfile(info)
        os.replace(partial, dest)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return dest
