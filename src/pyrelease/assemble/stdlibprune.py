"""Prune the bundled standard library to the modules the release can import.

Decided at build time from the release's own code, read with ``ast`` and never
executed (:mod:`pyrelease.assemble.imports`): every module of every
distribution, the node package and ``config/`` are the roots; every import
they contain (at module level or inside functions) is followed through the
standard library's sources. Kept whatever the analysis finds:

* what the interpreter imports at start-up (asked of the bundled interpreter);
* modules the interpreter's built-in parts import by name (:data:`BUILTIN_IMPORTS`);
* the whole ``encodings`` package: codecs are looked up by name at run time;
* module names written as strings in a module that imports by a computed
  name (``__import__(name)``, ``importlib.import_module(name)``): the
  standard library's plugin lists (``xml.sax``'s parsers, ``dbm``'s backends)
  and a distribution's own;
* module names found in the strings of extension modules (``.so``), which
  import from C (``_decimal`` imports ``numbers``, ``_pickle`` ``copyreg``);
* :data:`DEFAULT_KEEP`, the tools an operator reaches for in ``remote``/``rpc``;
* the release's ``prune_stdlib.keep`` list; its ``drop`` list wins over all of it.

What the release has no way of naming (a module named only in data, such as a
pickle, or typed by an operator) must be listed in ``keep``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pyrelease.assemble.imports import imports_of
from pyrelease.errors import BuildError

#: Imported by the interpreter's built-in (C) parts by name, on every supported version.
BUILTIN_IMPORTS = (
    "copyreg",  # object.__reduce_ex__
    "_strptime",  # time.strptime, datetime.strptime
    "warnings",
    "traceback",  # error display (3.13)
    "linecache",
    "codecs",
    "encodings",
    "io",
    "abc",
    "_weakrefset",
    "_collections_abc",
    "__future__",
)
#: Kept unless dropped: what an operator uses in a ``remote`` console or an ``rpc``.
DEFAULT_KEEP = (
    "pprint",
    "traceback",
    "rlcompleter",
    "readline",
    "faulthandler",
    "tracemalloc",
    "cProfile",
    "pstats",
    "timeit",
)
#: Packages whose every module is kept: looked up by name at run time.
WHOLE_PACKAGES = ("encodings",)
_SO_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_.]{1,80}")
_EXT = re.compile(r"\.(?:cpython-[^.]+|abi3)?\.?so$")


@dataclass
class StdlibIndex:
    """The modules of a bundled standard library: module name -> its files."""

    modules: dict[str, list[Path]] = field(default_factory=dict)
    packages: set[str] = field(default_factory=set)
    data: dict[str, list[Path]] = field(default_factory=dict)  # package -> other files in it

    def add(self, name: str, path: Path) -> None:
        self.modules.setdefault(name, []).append(path)


@dataclass
class PruneResult:
    """What :func:`prune_stdlib` kept and removed."""

    kept: list[str]
    removed: list[str]
    removed_bytes: int
    kept_bytes: int


def _module_name(parts: list[str]) -> tuple[str, bool] | None:
    """``["json", "__init__.pyc"]`` -> (``json``, package); None for a non-module file."""
    *dirs, filename = parts
    if dirs and dirs[-1] == "__pycache__":
        dirs = dirs[:-1]
        if not filename.endswith(".pyc"):
            return None
    elif not filename.endswith((".py", ".pyc")) and not _EXT.search(filename):
        return None
    stem = filename.split(".")[0]
    if not stem.isidentifier() or not all(d.isidentifier() for d in dirs):
        return None
    if stem == "__init__":
        return (".".join(dirs), True) if dirs else None
    return ".".join([*dirs, stem]), False


def index_stdlib(stdlib: Path, dynload: Path, extra: Iterable[Path] = ()) -> StdlibIndex:
    """Index the modules of a bundled ``lib/pythonX.Y`` and its ``lib-dynload``.

    ``extra`` are files below ``stdlib`` (outside ``lib-dynload``) indexed as if they
    were there (they were left out of the copy, see :func:`prune_stdlib`).
    """
    found = StdlibIndex()
    for dirpath, dirnames, filenames in os.walk(stdlib):
        base = Path(dirpath)
        if base == dynload:
            dirnames[:] = []
        rel = base.relative_to(stdlib).parts
        for name in filenames:
            _index_file(found, base, rel, name)
    for path in extra:
        _index_file(found, path.parent, path.parent.relative_to(stdlib).parts, path.name)
    if dynload.is_dir():
        for path in dynload.iterdir():
            if _EXT.search(path.name):
                found.add(path.name.split(".")[0], path)
    return found


def _index_file(found: StdlibIndex, base: Path, rel: tuple[str, ...], name: str) -> None:
    """Index ``base/name``, ``rel`` being ``base`` relative to the standard library."""
    module = _module_name([*rel, name])
    if module is None:
        owner = ".".join(p for p in rel if p != "__pycache__")
        if owner and all(p.isidentifier() for p in owner.split(".")):
            found.data.setdefault(owner, []).append(base / name)
        return
    found.add(module[0], base / name)
    if module[1]:
        found.packages.add(module[0])


def _matches(name: str, patterns: Iterable[str]) -> bool:
    """``email`` covers ``email`` and ``email.*``; ``*`` and ``?`` are wildcards."""
    for pattern in patterns:
        if name == pattern or name.startswith(pattern + ".") or fnmatch.fnmatchcase(name, pattern):
            return True
    return False


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def named_in_binary(path: Path, known: dict[str, list[Path]] | set[str]) -> list[str]:
    """Module names among the strings of an extension module (it may import them from C)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    words = {m.group().decode() for m in _SO_WORD.finditer(data)}
    return sorted(w for w in words if w in known)


class _Graph:
    """What each module imports, read from sources once (cached on disk between builds)."""

    def __init__(self, sources: Path, index: StdlibIndex, cache: Path | None) -> None:
        self.sources, self.index, self.cache_path = sources, index, cache
        self.cache: dict[str, list[str]] = {}
        self.dirty = False
        if cache is not None and cache.is_file():
            try:
                self.cache = json.loads(cache.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.cache = {}

    def imports(self, module: str) -> list[str]:
        if module in self.cache:
            return self.cache[module]
        found: list[str] = []
        files = self.index.modules.get(module, [])
        for path in files:
            if _EXT.search(path.name):
                found += named_in_binary(path, self.index.modules)
        rel = module.replace(".", "/")
        is_package = module in self.index.packages
        source = self.sources / (f"{rel}/__init__.py" if is_package else f"{rel}.py")
        if source.is_file():
            data = source.read_bytes()
            read = imports_of(data, module, is_package=is_package)
            found += read.every
            found += [n for n in read.named if n in self.index.modules]
        self.cache[module] = found
        self.dirty = True
        return found

    def save(self) -> None:
        if self.cache_path is None or not self.dirty:
            return
        self.cache_path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.cache_path.with_name(f".{self.cache_path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(self.cache, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.cache_path)


def startup_modules(python: Path) -> list[str]:
    """What the bundled interpreter imports before running anything, with and without site."""
    code = "import sys; print(' '.join(sorted(sys.modules)))"
    names: set[str] = set()
    for flags in (["-I"], ["-I", "-S"]):
        try:
            out = subprocess.run([str(python), *flags, "-c", code], capture_output=True,
                                 text=True, check=True, timeout=120)  # fmt: skip
        except (OSError, subprocess.SubprocessError) as exc:
            raise BuildError(f"cannot run the bundled Python {python}: {exc}") from None
        names.update(out.stdout.split())
    return sorted(names)


def release_roots(read: Iterable[tuple[list[str], list[str]]], known: StdlibIndex) -> list[str]:
    """The standard-library names that the release's own modules import or name.

    ``read`` holds, for every module of the release outside the standard library,
    what :func:`~pyrelease.assemble.imports.imports_of` found in it: (``every``,
    ``named``).
    """
    roots: list[str] = []
    for every, named in read:
        roots += every
        roots += [n for n in named if n in known.modules]
    return roots


def closure(
    roots: Iterable[str],
    index: StdlibIndex,
    graph: _Graph,
    *,
    keep: Iterable[str] = (),
    drop: Iterable[str] = (),
) -> set[str]:
    """The modules of ``index`` reachable from ``roots`` and ``keep``, never entering ``drop``."""
    drop = tuple(drop)
    todo = [*roots]
    todo += [m for m in index.modules if _matches(m, (*keep, *WHOLE_PACKAGES))]
    kept: set[str] = set()
    while todo:
        name = todo.pop()
        for part in _prefixes(name):
            if part in kept or part not in index.modules or _matches(part, drop):
                continue
            kept.add(part)
            todo += graph.imports(part)
    return kept


def closure_key(
    roots: Iterable[str], index: StdlibIndex, cache: Path, keep: Iterable[str], drop: Iterable[str]
) -> str:
    """What a closure depends on: the set of roots, the modules the bundle has, ``keep``,
    ``drop`` and the import cache (itself keyed by the installation and this code)."""
    h = hashlib.sha256()
    parts = [sorted(set(roots)), sorted(index.modules), sorted(index.packages),
             list(keep), list(drop), str(cache)]  # fmt: skip
    for part in parts:
        h.update(json.dumps(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def cached_closure(
    roots: Iterable[str],
    index: StdlibIndex,
    sources: Path,
    cache: Path | None,
    *,
    keep: Iterable[str] = (),
    drop: Iterable[str] = (),
) -> set[str]:
    """:func:`closure`, remembered per set of roots beside ``cache``.

    A rebuild after an edit that changes no import has the same roots, so the walk
    over the standard library's imports is skipped; any change to what the release
    imports or names (or to ``keep``/``drop``, or to the bundled modules) is another key.
    """
    roots, keep, drop = list(roots), tuple(keep), tuple(drop)
    if cache is None:
        return closure(roots, index, _Graph(sources, index, None), keep=keep, drop=drop)
    saved = cache.with_name(f"{cache.stem}-closures") / (
        closure_key(roots, index, cache, keep, drop) + ".json"
    )
    try:
        found = json.loads(saved.read_text(encoding="utf-8"))
        if isinstance(found, list) and all(isinstance(m, str) for m in found):
            return set(found)
    except (OSError, ValueError):
        pass
    graph = _Graph(sources, index, cache)
    kept = closure(roots, index, graph, keep=keep, drop=drop)
    graph.save()
    saved.parent.mkdir(parents=True, exist_ok=True)
    partial = saved.with_name(f".{saved.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(sorted(kept)), encoding="utf-8")
    os.replace(partial, saved)
    return kept


def prune_stdlib(
    stdlib: Path,
    dynload: Path,
    sources: Path,
    roots: Iterable[str],
    *,
    keep: Iterable[str] = (),
    drop: Iterable[str] = (),
    cache: Path | None = None,
    index: StdlibIndex | None = None,
    missing: dict[Path, Path] | None = None,
) -> PruneResult:
    """Remove from ``stdlib`` (a bundled ``lib/pythonX.Y``) every module not reachable.

    ``sources`` is the installation's own standard library (its ``.py`` files are
    read; the bundle may hold bytecode only); ``roots`` the names the release and the
    interpreter need; ``cache`` a file that keeps what each module imports between builds,
    and beside it the closure of every set of roots seen (see :func:`cached_closure`);
    ``index`` the :func:`index_stdlib` of ``stdlib`` when the caller has it already.

    ``missing`` maps files of ``stdlib`` that were left out of the copy to where they
    are (the cached runtime): they count as present, and every one of them that is
    not removed is copied in, so the result is the same as pruning a full copy.
    """
    missing = dict(missing or {})
    index = index_stdlib(stdlib, dynload, missing) if index is None else index
    kept = cached_closure([*roots, *BUILTIN_IMPORTS], index, sources, cache,
                          keep=(*DEFAULT_KEEP, *keep), drop=drop)  # fmt: skip
    removed = sorted(set(index.modules) - kept)
    removed_bytes = kept_bytes = 0

    def size(path: Path) -> int:
        return missing[path].stat().st_size if path in missing else path.stat().st_size

    def remove(path: Path) -> None:
        if missing.pop(path, None) is None:
            path.unlink()

    for name, files in index.modules.items():
        total = sum(size(f) for f in files)
        if name in kept:
            kept_bytes += total
            continue
        removed_bytes += total
        for path in files:
            remove(path)
    for package, files in index.data.items():
        if package not in kept and package in index.modules:
            for path in files:
                removed_bytes += size(path)
                remove(path)
    for path, source in sorted(missing.items()):  # kept, or never the pruning's to remove
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, path)
    _remove_empty_dirs(stdlib)
    return PruneResult(sorted(kept), removed, removed_bytes, kept_bytes)


def _remove_empty_dirs(top: Path) -> None:
    removed: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(top, topdown=False):  # children first
        if dirpath == str(top) or filenames:
            continue
        if all(os.path.join(dirpath, d) in removed for d in dirnames):
            os.rmdir(dirpath)
            removed.add(dirpath)
