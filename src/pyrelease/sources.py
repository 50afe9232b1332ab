"""What counts as a project's sources: its lock file and the trees that get installed.

Kept free of heavy imports: the up-to-date check of ``pyrelease build`` uses it
before deciding whether anything needs to be built at all.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from pyrelease import workspace

#: Lock files pyrelease reads, in order of preference.
LOCK_NAMES = ("pylock.toml", "uv.lock")
#: In a build environment: the lock digest and the digests of the local trees installed.
VENV_STAMP = ".pyrelease-stamp.json"


def find_lock(root: Path) -> Path | None:
    """The project's lock file, ``pylock.toml`` first, else its uv workspace's ``uv.lock``."""
    for name in LOCK_NAMES:
        if (root / name).is_file():
            return root / name
    return workspace.find_lock(root)  # a workspace member uses the root's uv.lock


# Folders that are outputs, caches or other environments, never the project's sources.
NOT_SOURCES = {
    "_build", ".git", ".hg", ".venv", "venv", "__pycache__", "build", "dist", "node_modules",
    ".tox", ".nox", ".pytest_cache", ".ruff_cache", ".mypy_cache", "result",
}  # fmt: skip


def sources_digest(root: Path, skip: set[Path] | None = None) -> str:
    """A digest of a local source tree that gets installed (the project, a local package).

    ``skip`` holds nested local packages, which have digests of their own. An
    unchanged digest lets a rebuild skip reinstalling that tree.
    """
    h = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = sorted(
            d
            for d in dirnames
            if d not in NOT_SOURCES
            and not d.endswith(".egg-info")
            and here / d not in (skip or set())
        )
        for name in sorted(filenames):
            path = here / name
            if name.endswith((".pyc", ".pyo")) or path.is_symlink():
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()
