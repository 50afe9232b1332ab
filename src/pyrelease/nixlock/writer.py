"""``pyrelease.lock.json``: the exact file of every locked distribution, per target triple.

```json
{
  "format": 1,
  "source": "uv.lock",
  "source_sha256": "…",
  "python": "3.12",
  "python_full_version": "3.12.1",
  "targets": {
    "x86_64-unknown-linux-gnu": {
      "system": "x86_64-linux",
      "files": [{"name": "markupsafe", "version": "3.0.2", "kind": "wheel",
                 "filename": "markupsafe-3.0.2-cp312-cp312-manylinux_2_17_x86_64…whl",
                 "url": "https://…/markupsafe-3.0.2-…whl", "sha256": "…"}],
      "directories": [{"name": "demo-extra", "version": "0.2.0", "path": "packages/demo-extra"}]
    }
  }
}
```

Nix reads it with ``builtins.fromJSON`` (its ``fromTOML`` cannot read ``pylock.toml``'s
dates) and makes one fixed-output derivation per file, named exactly as the file. A file
given by a path in the lock (a wheel kept in the repository) has ``path`` instead of
``url``. Local directories (the project, packages beside it) are not files to fetch: they
are built from the sources. The choice of file is the one ``pyrelease build --target``
makes from the same lock, so the build finds exactly the files Nix provides.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from pyrelease.errors import BuildError, PyreleaseError
from pyrelease.lockfile import LockedArtifact, read_lock
from pyrelease.nixlock import targets as targets_mod
from pyrelease.sources import find_lock

#: The file ``pyrelease nix-lock`` writes and ``lib.mkRelease`` reads by default.
LOCK_NAME = "pyrelease.lock.json"
FORMAT = 1


def _relative(location: str, root: Path) -> str:
    """A local path of the lock as a POSIX path relative to the project's folder."""
    if location.startswith("file:"):
        path = Path(url2pathname(urlsplit(location).path))
    else:
        path = Path(location)
    return Path(os.path.relpath(path, root.resolve())).as_posix()


def _file_entry(a: LockedArtifact, root: Path, triple: str) -> dict[str, Any]:
    if not a.sha256:
        raise BuildError(
            f"the lock has no sha256 for {a.name} {a.version} ({triple}): Nix fetches only "
            "files whose hash is known",
            tip="re-lock with hashes (pip lock and uv lock record them)",
        )
    entry: dict[str, Any] = {
        "name": a.name,
        "version": a.version,
        "kind": a.kind,
        "filename": a.filename,
        "sha256": a.sha256,
    }
    if a.location.startswith("file:"):
        entry["path"] = _relative(a.location, root)
    else:
        entry["url"] = a.location
    return entry


def target_entry(
    lock: Path, target: targets_mod.Target, python_full: str, base: Path | None = None
) -> dict[str, Any]:
    """What one target installs from ``lock``: files to fetch and local directories.

    Local paths are relative to ``base``, the project's folder (default: the lock's).
    """
    tags = targets_mod.tags(target, python_full)
    env = targets_mod.marker_environment(target, python_full)
    try:
        artifacts = read_lock(lock, tags, env, target=f"target {target.triple}")
    except BuildError as exc:
        tip = exc.tip or ""
        more = "or pass --target for the triples you build"
        raise BuildError(exc.message, tip=f"{tip}, {more}" if tip else more) from None
    root = base or lock.parent
    files = [_file_entry(a, root, target.triple) for a in artifacts if a.kind != "directory"]
    dirs = [
        {"name": a.name, "version": a.version, "path": _relative(a.location, root)}
        for a in artifacts
        if a.kind == "directory"
    ]
    return {
        "system": target.system,
        "files": sorted(files, key=lambda f: (f["name"], f["filename"])),
        "directories": sorted(dirs, key=lambda d: (d["name"], d["path"])),
    }


def nix_lock(
    lock: Path, triples: Sequence[str], python_full: str, base: Path | None = None
) -> dict[str, Any]:
    """The content of ``pyrelease.lock.json`` for ``lock`` (every known triple if none).

    Every path in it, ``source`` included, is relative to ``base``, the project's
    folder (default: the lock's), where ``lib.mkRelease`` looks them up: in a uv
    workspace member the root's ``uv.lock`` is ``../../uv.lock``.
    """
    chosen = [targets_mod.get(t) for t in (triples or list(targets_mod.TARGETS))]
    major_minor = ".".join(python_full.split(".")[:2])
    base = (base or lock.parent).resolve()
    return {
        "format": FORMAT,
        "source": _relative(str(lock.resolve()), base),
        "source_sha256": hashlib.sha256(lock.read_bytes()).hexdigest(),
        "python": major_minor,
        "python_full_version": python_full,
        "targets": {t.triple: target_entry(lock, t, python_full, base) for t in chosen},
    }


def write_nix_lock(
    project: Path, triples: Sequence[str], python_full: str, output: Path | None = None
) -> Path:
    """Write ``pyrelease.lock.json`` for the project at ``project``; return its path.

    Nothing is written when any target cannot be served (the error names the
    distribution and the target); the file is replaced in one rename.
    """
    lock = find_lock(project)
    if lock is None:
        raise PyreleaseError(
            f"no lock file (pylock.toml or uv.lock) in {project}",
            tip="lock the project first: `uv lock`, or `pip lock . -o pylock.toml`",
        )
    out = output or project / LOCK_NAME
    data = nix_lock(lock, triples, python_full, project)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=2, sort_keys=True) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
