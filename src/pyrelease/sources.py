"""What counts as a project's sources: its lock file and the trees that get installed.

Kept free of heavy imports: the up-to-date check of ``pyrelease build`` uses it
before deciding whether anything needs to be built at all.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable
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


_KINDS = {
    stat.S_IFIFO: "named pipe (FIFO)",
    stat.S_IFSOCK: "socket",
    stat.S_IFCHR: "character device",
    stat.S_IFBLK: "block device",
}


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file, folder or symlink is ("socket", ...), or None.

    Reading a named pipe waits for a writer forever; the build never reads one.
    """
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode):
        return None
    return _KINDS.get(stat.S_IFMT(mode), "special file")


def sources_digest(
    root: Path,
    skip: set[Path] | None = None,
    on_special: Callable[[Path, str], None] | None = None,
) -> str:
    """A digest of a local source tree that gets installed (the project, a local package).

    ``skip`` holds nested local packages, which have digests of their own. An
    unchanged digest lets a rebuild skip reinstalling that tree. Symlinks and
    special files (pipes, sockets, devices) are not sources and are left out;
    ``on_special`` is told about each special file.
    """
    return digest_of(source_hashes(root, skip, on_special))


def digest_of(hashes: dict[str, str]) -> str:
    """The digest of a tree from its :func:`source_hashes` (in their order)."""
    h = hashlib.sha256()
    for rel, digest in hashes.items():
        h.update(rel.encode() + b"\0")
        h.update(bytes.fromhex(digest))
    return h.hexdigest()


def source_hashes(
    root: Path,
    skip: set[Path] | None = None,
    on_special: Callable[[Path, str], None] | None = None,
) -> dict[str, str]:
    """The sha256 of every source file of a local tree, by path relative to ``root``.

    In a fixed order (sorted, folder by folder); what counts is as for
    :func:`sources_digest`.
    """
    found: dict[str, str] = {}
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
            if name.endswith((".pyc", ".pyo")):
                continue
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                kind = special_kind(mode)
                if kind is not None and on_special is not None:
                    on_special(path, kind)
                continue
            found[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
