"""Where pyrelease keeps what any project's builds on this machine can share."""

from __future__ import annotations

import os
from pathlib import Path


def user_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pyrelease`` (``~/.cache/pyrelease``): runtimes, local wheels,
    the standard library's import graph. Safe to delete; builds fill it again."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyrelease"
