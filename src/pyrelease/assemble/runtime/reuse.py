"""Copy the cached runtime into a release, hard-linking what the previous release has.

A rebuild replaces the release it was built over, and most of the runtime's
bytes are the same as in that release. Linking instead of copying saves the
writes, but two directory entries sharing an inode share its bytes *and* its
mode: a later ``chmod -R a-w``, an in-place edit or a ``tar`` of one would see
the other. So a file of the previous release is linked only when

* it is a regular file owned by this user with exactly one link (nothing else
  shares it; the release that one replaced, left aside by the last build, is
  removed before linking starts, and once the release being replaced now is
  removed in turn, by the next build, the new file has a single name again);
* its mode and time are already the ones :func:`~pyrelease.assemble.fsutil.normalize_tree`
  gives it (normalising the new release then changes nothing the previous one
  sees, so a failed build leaves the previous release exactly as it was);
* its bytes are those of the cached file (compared, not assumed: an edited
  release, or one made from another cache entry with the same name, is copied).

Links are used only when no step of the user's runs after ``assemble`` (only
``tar``, which reads): such a step sees the staged release and could rewrite a
runtime file in place, which would reach the previous release through the link
before the build had succeeded (:func:`may_link`).

When the standard library is pruned afterwards, the files of it that the
previous release does not have (the previous pruning removed them) are not
copied at all: the pruning decides again, over the cached runtime's complete
list, and copies in those it keeps (``prune_stdlib(missing=...)``), so the
result is the same as pruning a full copy.

Everything else is copied as before. The filesystem has no reflinks here
(ext4), so ``copy_file_range`` would still write every byte; links do not.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Callable
from pathlib import Path


def may_link(after_assemble: list[str]) -> bool:
    """True when nothing but ``tar`` is among the steps that run after ``assemble``."""
    return all(step == "tar" for step in after_assemble)


def _final_mode(st: os.stat_result) -> int:
    return 0o755 if st.st_mode & 0o111 else 0o644


def _same_bytes(a: str, b: str, size: int) -> bool:
    # Each file read whole, unbuffered: the fewest calls and copies (most are small).
    # A short read (or a file of another size) counts as different: it is copied.
    with open(a, "rb", buffering=0) as fa, open(b, "rb", buffering=0) as fb:
        x = fa.read(size + 1)
        return len(x) == size and x == fb.read(size + 1)


def reusable(cached: str, previous: str, epoch: int) -> bool:
    """True when ``previous`` may be hard-linked in place of a copy of ``cached``."""
    try:
        old = os.lstat(previous)
        new = os.stat(cached)
    except OSError:
        return False
    return (
        stat.S_ISREG(old.st_mode)
        and old.st_nlink == 1
        and old.st_uid == os.getuid()
        and stat.S_IMODE(old.st_mode) == _final_mode(new)
        and old.st_mtime_ns == epoch * 1_000_000_000
        and old.st_size == new.st_size
        and _same_bytes(cached, previous, new.st_size)
    )


def copy_reusing(
    src: Path,
    previous: Path,
    dest: Path,
    epoch: int,
    leave_out: Callable[[str], bool] | None = None,
) -> tuple[int, list[str]]:
    """``shutil.copytree(src, dest, symlinks=True)``, linking files of ``previous``
    (the same tree in the release being replaced) where :func:`reusable` allows.

    A file that ``previous`` does not have and ``leave_out`` (given its path
    relative to ``src``, ``/``-separated) accepts is not copied at all: the
    previous build removed it (pruning), and the step that decides again copies
    back what it keeps. Returns how many files were linked, and the relative
    paths left out.
    """
    linked = 0
    left_out: list[str] = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, src)
        out = os.path.normpath(os.path.join(dest, rel))
        os.makedirs(out, exist_ok=True)
        for name in [*dirnames, *filenames]:
            source = os.path.join(dirpath, name)
            target = os.path.join(out, name)
            if os.path.islink(source):
                os.symlink(os.readlink(source), target)
                if name in dirnames:
                    dirnames.remove(name)
                continue
            if name in dirnames:
                continue
            old = os.path.normpath(os.path.join(previous, rel, name))
            if reusable(source, old, epoch):
                os.link(old, target)
                linked += 1
                continue
            if leave_out is not None:
                relative = name if rel == "." else f"{rel}/{name}".replace(os.sep, "/")
                if leave_out(relative) and not os.path.lexists(old):
                    left_out.append(relative)
                    continue
            shutil.copy2(source, target)
    return linked, left_out


def copy_linking(src: Path, previous: Path | None, dest: Path, epoch: int) -> None:
    """Copy the file or tree ``src`` to ``dest``, linking what ``previous`` (the same
    path in the release being replaced, or None) holds as it is (see :func:`reusable`)."""
    if src.is_dir():
        if previous is not None and previous.is_dir() and not previous.is_symlink():
            copy_reusing(src, previous, dest, epoch)
        else:
            shutil.copytree(src, dest, symlinks=True)
    elif previous is not None and reusable(str(src), str(previous), epoch):
        os.link(previous, dest)
    else:
        shutil.copy2(src, dest)
