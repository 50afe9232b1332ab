"""The runtime cache: finished runtimes kept under ``~/.cache/pyrelease/runtimes``.

```text
~/.cache/pyrelease/runtimes/
  3.12.1-<key>/                 one entry per installation, options and bundler version
    info.json                   what bundle_runtime returns (RuntimeInfo as JSON)
    runtime-3.12.1/             the finished runtime, copied into releases
  .3.12.1-<key>.building-XXXX/  an entry being filled (renamed into place when done)
```
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyrelease.assemble.runtime.bytecode import WORKER
from pyrelease.assemble.runtime.install import Layout
from pyrelease.assemble.runtime.tools import tool_versions
from pyrelease.errors import BuildError

#: Bump when the layout or content of a bundled runtime changes (invalidates caches).
FORMAT_VERSION = 2


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pyrelease/runtimes`` (``~/.cache/pyrelease/runtimes``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyrelease" / "runtimes"


def _bundler_digest() -> str:
    """The code that shapes a runtime: this package's modules and the compile worker."""
    digest = hashlib.sha256()
    for path in [*sorted(Path(__file__).parent.glob("*.py")), WORKER]:
        digest.update(f"{path.name}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def cache_key(layout: Layout, *, sources: bool) -> str:
    """The name of the cache entry for ``layout`` bundled with or without ``sources``."""
    python = layout.python

    def stat(path: Path | None) -> list[object] | None:
        if path is None:
            return None
        st = path.stat()
        return [str(path), st.st_mtime_ns, st.st_size]

    material = {
        "format": FORMAT_VERSION,
        "version": python.version,
        "prefix": str(python.prefix),
        "executable": stat(python.executable),
        "libpython": stat(layout.libpython),
        "stdlib": str(layout.stdlib),
        "dynload": str(layout.dynload),
        "sources": sources,
        "bundler": _bundler_digest(),
        "tools": tool_versions(),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return f"{python.version}-{hashlib.sha256(blob).hexdigest()[:32]}"


def load(entry: Path) -> dict[str, Any] | None:
    """The ``info.json`` of a complete cache entry, None if it is missing or broken."""
    try:
        info = json.loads((entry / "info.json").read_text(encoding="utf-8"))
        complete = (entry / info["dir_name"]).is_dir()
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if complete and isinstance(info, dict) else None


def fill(entry: Path, build: Callable[[Path], dict[str, Any]]) -> dict[str, Any]:
    """Fill ``entry`` with what ``build(staging)`` writes, atomically; return its info.

    ``build`` writes ``staging/DIR_NAME`` and returns the info to record, whose
    ``dir_name`` names that directory. The staging directory is renamed into place: a
    failure leaves no entry, and when another build filled the same entry meanwhile its
    result is used.
    """
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.building-", dir=entry.parent))
    except OSError as exc:
        raise BuildError(f"cannot create the runtime cache in {entry.parent}: {exc}") from None
    try:
        info = build(staging)
        text = json.dumps(info, indent=2, sort_keys=True) + "\n"
        (staging / "info.json").write_text(text, encoding="utf-8")
        try:
            os.rename(staging, entry)
        except OSError as exc:
            # Someone else filled the same entry meanwhile (or left a broken one).
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            cached = load(entry)
            if cached is not None:
                return cached
            shutil.rmtree(entry, ignore_errors=True)
            os.rename(staging, entry)
        return info
    except OSError as exc:
        raise BuildError(f"cannot bundle the Python runtime: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
