"""Where pyrelease keeps what any project's builds on this machine can share."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pyrelease`` (``~/.cache/pyrelease``): runtimes, local wheels,
    the standard library's import graph. Safe to delete; builds fill it again."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyrelease"


def interpreter_key(python: Path, *extra: str) -> str:
    """A key for facts about an interpreter: its real path, inode, size and mtime.

    Reinstalling or rebuilding the interpreter changes it.
    """
    real = os.path.realpath(python)
    st = os.stat(real)
    material = json.dumps([real, st.st_ino, st.st_size, st.st_mtime_ns, *extra])
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def remembered(kind: str, key: str, compute: Callable[[], T]) -> T:
    """``compute()``'s JSON value, kept in ``user_cache_dir()/kind/key.json`` once computed."""
    path = user_cache_dir() / kind / f"{key}.json"
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        pass
    value = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        partial.write_text(json.dumps(value, sort_keys=True), encoding="utf-8")
        os.replace(partial, path)
    except OSError:
        pass  # a read-only cache only costs time
    return value
