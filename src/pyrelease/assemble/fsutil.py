"""Filesystem rules that make releases reproducible and safe.

* walks are sorted; file times come from ``SOURCE_DATE_EPOCH``; modes are fixed;
* paths written from untrusted names are checked to stay inside their root;
* a directory is built aside and switched into place with renames.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

# 1980-01-01: the earliest time a zip file can hold, so tar and zip agree.
DEFAULT_EPOCH = 315532800


def source_date_epoch() -> int:
    """The timestamp every file of a release gets (``SOURCE_DATE_EPOCH`` or 1980-01-01)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return max(int(value), DEFAULT_EPOCH) if value.isdigit() else DEFAULT_EPOCH


def walk_sorted(root: Path) -> Iterator[Path]:
    """Every entry below ``root`` (not following symlinks), in a stable order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        base = Path(dirpath)
        for name in sorted(dirnames + filenames):
            yield base / name


def is_executable(path: Path) -> bool:
    """True when any execute bit is set."""
    return bool(path.lstat().st_mode & 0o111)


def normalize_tree(root: Path, epoch: int | None = None) -> None:
    """Fix modes (0755 dirs and executables, 0644 files) and times below ``root``.

    Modes must not depend on the builder's umask; the one secret, ``releases/COOKIE``,
    keeps its 0400.
    """
    epoch = source_date_epoch() if epoch is None else epoch
    secret = root / "releases" / "COOKIE"
    for path in [*walk_sorted(root), root]:
        st = path.lstat()
        if stat.S_ISLNK(st.st_mode):
            os.utime(path, (epoch, epoch), follow_symlinks=False)
            continue
        if stat.S_ISDIR(st.st_mode):
            mode = 0o755
        elif path == secret:
            mode = 0o400
        else:
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            if stat.S_IMODE(st.st_mode) == mode and st.st_mtime_ns == epoch * 1_000_000_000:
                continue  # already so (a file linked from the release this one replaces)
        os.chmod(path, mode)
        os.utime(path, (epoch, epoch))


def contained(root: Path, relative: str) -> Path:
    """Join ``relative`` to ``root``, refusing anything that would land outside it."""
    if os.path.isabs(relative):
        raise ValueError(f"{relative!r} is an absolute path")
    target = Path(os.path.normpath(root / relative))
    base = Path(os.path.normpath(root))
    if target != base and base not in target.parents:
        raise ValueError(f"{relative!r} points outside {root}")
    return target


def make_staging(final: Path) -> Path:
    """A fresh directory beside ``final`` to build into (same filesystem, so rename works)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{final.name}.building-", dir=final.parent))


_removals: list[subprocess.Popen[bytes]] = []


def swap_into_place(staging: Path, final: Path, *, leave_aside: bool = False) -> Path | None:
    """Replace ``final`` by ``staging``; on failure ``final`` is as it was.

    The replaced tree is removed, or with ``leave_aside`` left beside ``final`` as
    ``.NAME.old-XXXXXXXX`` (returned) for :func:`remove_replaced` to remove later:
    a rebuild then spends no time removing the release it replaced.
    """
    if not final.exists():
        os.rename(staging, final)
        return None
    old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
    os.rmdir(old)
    os.rename(final, old)
    try:
        os.rename(staging, final)
    except BaseException:
        os.rename(old, final)
        raise
    if leave_aside:
        return old
    shutil.rmtree(old, ignore_errors=True)
    return None


def replaced_trees(final: Path) -> list[Path]:
    """The trees :func:`swap_into_place` left aside for ``final``."""
    try:
        names = os.listdir(final.parent)
    except OSError:
        return []
    prefix = f".{final.name}.old-"
    found = []
    for name in sorted(names):
        path = final.parent / name
        ours = name.startswith(prefix) and len(name) == len(prefix) + 8
        if ours and path.is_dir() and not path.is_symlink():
            found.append(path)
    return found


def remove_replaced(final: Path) -> None:
    """Start removing the trees left aside for ``final`` (see :func:`wait_for_removals`).

    ``rm -rf`` in a process of its own, on the other CPU: a thread would contend
    for the interpreter lock with the build, which is busy starting up meanwhile,
    and each of its thousand file operations would wait for its turn.
    """
    trees = replaced_trees(final)
    if not trees:
        return
    rm = shutil.which("rm")
    if rm is None:
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)
        return
    argv = [rm, "-rf", "--", *map(str, trees)]
    devnull = subprocess.DEVNULL
    _removals.append(subprocess.Popen(argv, stdin=devnull, stdout=devnull, stderr=devnull))


def wait_for_removals() -> None:
    """Wait until the removals :func:`remove_replaced` started are done."""
    while _removals:
        _removals.pop().wait()
