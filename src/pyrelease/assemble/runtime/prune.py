"""What of an installation's standard library goes into a runtime, and what is dropped."""

from __future__ import annotations

import fnmatch
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from pyrelease.assemble.runtime.install import Layout, inside

#: Directories dropped from the standard library (paths relative to ``lib/pythonX.Y``).
PRUNED_DIRS = frozenset(
    {
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "site-packages",
        "dist-packages",
        "unittest/test",
        "ctypes/test",
        "sqlite3/test",
        "distutils/tests",
    }
)
#: Directory name patterns dropped at the top of the standard library.
PRUNED_DIR_PATTERNS = ("config-*",)
#: Files dropped from the top of the standard library (distribution hooks included).
PRUNED_FILES = frozenset({"turtle.py", "EXTERNALLY-MANAGED", "sitecustomize.py"})
#: Suffixes dropped everywhere (bytecode is recompiled, static libraries are useless).
PRUNED_SUFFIXES = (".a", ".pyc", ".pyo")
#: Extension modules dropped from ``lib-dynload``.
PRUNED_DYNLOAD = (
    "_tkinter*",
    "_test*",
    "_ctypes_test*",
    "xxlimited*",
    "_xxtestfuzz*",
    "xxsubtype*",
)


def pruned(rel: str, is_dir: bool) -> bool:
    """True when ``rel`` (relative to the standard library directory) is left out."""
    name = rel.rsplit("/", 1)[-1]
    top = "/" not in rel
    if is_dir:
        return (
            name == "__pycache__"
            or rel in PRUNED_DIRS
            or (top and any(fnmatch.fnmatchcase(name, p) for p in PRUNED_DIR_PATTERNS))
        )
    return (top and name in PRUNED_FILES) or name.endswith(PRUNED_SUFFIXES)


def walk(src: Path, skip_dir: Path | None = None) -> Iterator[tuple[str, Path]]:
    """(relative posix path, absolute path) of the files kept below ``src``, sorted."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        base = Path(dirpath)
        rel_dir = base.relative_to(src).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames if not pruned(rel_dir + d, is_dir=True) and base / d != skip_dir
        )
        for name in sorted(filenames):
            if not pruned(rel_dir + name, is_dir=False):
                yield rel_dir + name, base / name


def _copy_file(src: Path, dst: Path) -> None:
    if not src.exists():  # a dangling symlink (distribution hooks pointing into /etc)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def copy_stdlib(layout: Layout, rt: Path) -> None:
    """Copy what is kept of the standard library and ``lib-dynload`` into ``rt``."""
    dynload_inside = inside(layout.dynload, layout.stdlib)
    for rel, path in walk(layout.stdlib, layout.dynload if dynload_inside else None):
        _copy_file(path, rt / layout.stdlib_rel / rel)
    target = rt / layout.dynload_rel
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(layout.dynload.iterdir()):
        if path.is_dir() or any(fnmatch.fnmatchcase(path.name, p) for p in PRUNED_DYNLOAD):
            continue
        _copy_file(path, target / path.name)
