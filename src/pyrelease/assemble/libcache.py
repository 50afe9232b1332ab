"""A cache of finished ``lib/DIST-VSN/`` folders, so rebuilds redo only what changed.

A distribution's folder depends only on its installed files, the target
interpreter (magic number), the ``strip`` settings and the compiler worker:
that is the key. Compiled ``.pyc`` name files relative to the release root, so
a cached folder is valid for any release path. After editing one file of your
project, only your project's distribution is compiled again.

```text
_build/ENV/lib-cache/
  jinja2-3.1.6-1f2e3d4c5b6a7980/
    entry.json                      rel_path, modules, pth, extensions
    lib/jinja2-3.1.6/...            the finished folder (or .zip)
```
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Collection
from pathlib import Path

from pyrelease.assemble.fsutil import source_date_epoch
from pyrelease.assemble.libs import WORKER, LibDir, keep_file
from pyrelease.assemble.runtime import reuse
from pyrelease.config import StripSpec
from pyrelease.distributions import Distribution

FORMAT = 1


def cache_key(
    dist: Distribution,
    site: Path,
    cache_tag: str,
    strip: StripSpec,
    kept_tests: Collection[str] = (),
    keep_sources: bool = False,
) -> str:
    """What a distribution's finished folder depends on (``kept_tests``: see ``keep_file``;
    ``keep_sources``: whether ``strip`` keeps this distribution's sources)."""
    h = hashlib.sha256()
    settings = [FORMAT, cache_tag, strip.enabled, sorted(strip.keep), strip.compress,
                sorted(kept_tests), keep_sources]  # fmt: skip
    h.update(json.dumps(settings).encode())
    h.update(hashlib.sha256(WORKER.read_bytes()).digest())
    h.update(hashlib.sha256(Path(__file__).with_name("libs.py").read_bytes()).digest())
    for rel in dist.files:
        if not keep_file(rel, dist, strip, kept_tests):
            continue  # installer bookkeeping and pip's own timestamped pycs change on reinstall
        path = site / rel
        h.update(rel.encode() + b"\0")
        if path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


def slot(cache_dir: Path, dist: Distribution, key: str) -> Path:
    """The cache folder for one distribution at one key."""
    return cache_dir / f"{dist.lib_name}-{key}"


def read_entry(cached: Path) -> dict | None:
    """The ``entry.json`` of a cache folder; None when it is not cached."""
    try:
        data = json.loads((cached / "entry.json").read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def load(
    dist: Distribution,
    cached: Path,
    release_root: Path,
    data: dict | None = None,
    previous: Path | None = None,
) -> LibDir | None:
    """Copy a cached folder into the release; None when it is not cached.

    ``data``: its :func:`read_entry`, when read already; ``previous``: the root of
    the release this one replaces, whose files are linked where they are the same
    (see :mod:`pyrelease.assemble.runtime.reuse`).
    """
    data = read_entry(cached) if data is None else data
    if data is None:
        return None
    src = cached / data["rel_path"]
    dest = release_root / data["rel_path"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    old = previous / data["rel_path"] if previous is not None else None
    reuse.copy_linking(src, old, dest, source_date_epoch())
    entry = LibDir(dist, data["rel_path"], data["modules"], data["pth"])
    entry.extensions = [release_root / p for p in data["extensions"]]
    return entry


def store(entry: LibDir, release_root: Path, cached: Path) -> None:
    """Keep a finished folder for the next build (filled aside, renamed in)."""
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".filling-", dir=cached.parent))
    try:
        src = release_root / entry.rel_path
        dest = tmp / entry.rel_path
        dest.parent.mkdir(parents=True)
        if src.is_dir():
            shutil.copytree(src, dest, symlinks=True)
        else:
            shutil.copy2(src, dest)
        data = {
            "rel_path": entry.rel_path,
            "modules": entry.modules,
            "pth": entry.pth,
            "extensions": [str(p.relative_to(release_root)) for p in entry.extensions],
        }
        (tmp / "entry.json").write_text(json.dumps(data, sort_keys=True))
        try:
            os.rename(tmp, cached)
        except OSError:  # filled meanwhile by another build: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
