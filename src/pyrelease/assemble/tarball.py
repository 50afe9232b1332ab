"""The deterministic ``NAME-VSN.tar.xz`` (or ``.tar.gz``) of a release.

``xz`` is the standard library's ``lzma`` at preset 5 (single-threaded, so the
same input always gives the same bytes; preset 5 is within 2.5 % of preset 9's
size for a release and takes about a third less CPU); ``gz`` is ``gzip`` at level 9 with no
name or time in its header. Both unpack with ``tar -xf`` and Python's
``tarfile``.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from pyrelease.assemble.fsutil import source_date_epoch, walk_sorted
from pyrelease.errors import BuildError

#: The ``lzma`` preset of ``.tar.xz``: changing it changes every tarball's bytes.
XZ_PRESET = 5

# Never packed: runtime state and the cookie (a secret, made on the target).
EXCLUDED = ("tmp", "releases/COOKIE")


def _excluded(rel: str) -> bool:
    return any(rel == e or rel.startswith(e + "/") for e in EXCLUDED)


@contextmanager
def _compressor(raw: BinaryIO, fmt: str) -> Iterator[BinaryIO]:
    if fmt == "xz":
        import lzma

        with lzma.LZMAFile(raw, "wb", format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64,
                           preset=XZ_PRESET) as xz:  # fmt: skip
            yield xz  # type: ignore[misc]
    elif fmt == "gz":
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz:
            yield gz  # type: ignore[misc]
    else:
        raise ValueError(f"unknown tar format {fmt!r}")


def write_tarball(release_dir: Path, dest: Path, fmt: str = "xz") -> Path:
    """Pack ``release_dir`` into ``dest`` compressed with ``fmt`` (``xz`` or ``gz``):
    sorted members, files and symlinks only, owner 0, modes 0644/0755, fixed
    times, no name or time in the compression header. Written aside and renamed
    into place.
    """
    epoch = source_date_epoch()
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        with (
            open(partial, "wb") as raw,
            _compressor(raw, fmt) as packed,
            tarfile.open(fileobj=packed, mode="w", format=tarfile.PAX_FORMAT) as tar,
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
