"""The ``prune_stdlib`` part of assembly: gather the release's code, prune, report.

The release's code is every module of its distributions (read from the build
environment, sources even when the release ships bytecode only, through the
same cached import graph as the preload plan), the node package, ``config/``
and the overlays' Python files. The list of what was
removed goes to ``releases/VSN/stdlib-pruned.txt`` in the release, so that an
``ImportError`` on a target can be checked against it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyrelease
from pyrelease.assemble import stdlibprune
from pyrelease.assemble.importgraph import Graph
from pyrelease.assemble.imports import imports_of
from pyrelease.assemble.libs import LibDir
from pyrelease.assemble.runtime.bundle import RuntimeInfo
from pyrelease.assemble.runtime.install import find_layout
from pyrelease.cachedirs import user_cache_dir
from pyrelease.errors import BuildError
from pyrelease.release import Release

NODE_SRC = Path(pyrelease.__file__).parent / "node"
LIST_NAME = "stdlib-pruned.txt"


def _release_imports(release: Release, graph: Graph) -> Iterator[tuple[list[str], list[str]]]:
    """(every, named) of every Python module of the release, read once and cached.

    The distributions' modules come from the import graph that the preload plan
    and ``strip`` read too (cached per distribution); the node package,
    ``config/`` and the overlays' Python files from a cache keyed by their bytes.
    """
    for name in sorted(graph.modules):
        record = graph.record(name)
        if record is not None:
            yield record.every, record.named
    extra: list[tuple[Path, str, bool]] = [
        (path, f"pyrelease.node.{path.stem}", path.stem == "__init__")
        for path in sorted(NODE_SRC.glob("*.py"))
    ]
    for top in [release.project.root / "config", *release.overlays]:
        if top.is_dir():
            extra += [(path, path.stem, False) for path in sorted(top.rglob("*.py"))]
    cache = _ExtraCache(release.build_dir / "lib-cache" / "imports")
    for path, module, package in extra:
        yield cache.read(path.read_bytes(), module, package)
    cache.save()


class _ExtraCache:
    """What files outside the distributions import, by their bytes (one JSON file)."""

    def __init__(self, folder: Path) -> None:
        here = Path(__file__).parent
        key = hashlib.sha256((here / "imports.py").read_bytes()).hexdigest()[:16]
        self.path = folder / f"other-sources-{key}.json"
        self.used: dict[str, list[list[str]]] = {}
        try:
            self.known: dict[str, list[list[str]]] = json.loads(self.path.read_text("utf-8"))
        except (OSError, ValueError):
            self.known = {}

    def read(self, source: bytes, module: str, package: bool) -> tuple[list[str], list[str]]:
        h = hashlib.sha256(source)
        h.update(f"\0{module}\0{package}".encode())
        key = h.hexdigest()
        found = self.known.get(key)
        if not (isinstance(found, list) and len(found) == 2):
            read = imports_of(source, module, is_package=package)
            found = [read.every, read.named]
        self.used[key] = found
        return found[0], found[1]

    def save(self) -> None:
        if self.used == self.known:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        partial.write_text(json.dumps(self.used, sort_keys=True), encoding="utf-8")
        os.replace(partial, self.path)


def _cache_file(release: Release, sources: Path) -> Path:
    """Shared by every build with this Python: keyed by its standard library's place
    and state (an installation replaced in place gets a new key) and this code."""
    here = Path(__file__).parent
    h = hashlib.sha256(str(sources).encode())
    for name in ("os.py",):
        try:
            h.update(str((sources / name).stat().st_mtime_ns).encode())
        except OSError:
            pass
    for name in ("imports.py", "stdlibprune.py"):
        h.update(hashlib.sha256((here / name).read_bytes()).digest())
    key = h.hexdigest()[:16]
    return user_cache_dir() / "stdlib-imports" / f"{release.python.version}-{key}.json"


def _startup_modules(release: Release, bundled: Path, stdlib: Path) -> list[str]:
    """What the bundled interpreter imports at start-up, remembered per source interpreter
    and runtime bundler (the bundled runtime is made from those two alone)."""
    from pyrelease.assemble.runtime.cache import _bundler_digest
    from pyrelease.cachedirs import interpreter_key, remembered

    key = interpreter_key(release.python.executable, "startup", str(stdlib), _bundler_digest())
    return remembered("startup-modules", key, lambda: stdlibprune.startup_modules(bundled))


def _check_names(spec_names: tuple[str, ...], index: stdlibprune.StdlibIndex, part: str) -> None:
    modules = index.modules
    unknown = [n for n in spec_names if not any(stdlibprune._matches(m, [n]) for m in modules)]
    if unknown:
        names = ", ".join(unknown)
        raise BuildError(
            f"prune_stdlib.{part} names {names}, which the bundled standard library does not "
            'have; list standard-library modules only (like "xml.dom" or "email.*")'
        )


def prune_runtime(
    release: Release,
    root: Path,
    info: RuntimeInfo,
    libs: list[LibDir],
    graph: Graph,
) -> stdlibprune.PruneResult:
    """Prune the standard library of the runtime ``info`` describes to what the release
    can import (the files its copy left out count as present; those kept are copied in).

    ``graph`` is the import graph of the release's distributions (see
    :mod:`.importgraph`); what it reads here is kept in its cache too.
    """
    spec = release.spec.prune_stdlib
    layout = find_layout(release.python)
    dir_name, python_rel = info.dir_name, info.python_rel
    stdlib = root / dir_name / layout.stdlib_rel
    dynload = root / dir_name / layout.dynload_rel
    missing = {root / dir_name / rel: Path(info.source) / rel for rel in info.left_out}
    index = stdlibprune.index_stdlib(stdlib, dynload, missing)
    _check_names(spec.keep, index, "keep")
    _check_names(spec.drop, index, "drop")
    # Asked of the complete runtime this one was copied from (its own copy may lack files).
    bundled = Path(info.source).parent / python_rel if info.source else root / python_rel
    startup = _startup_modules(release, bundled, layout.stdlib)
    needed = [m for m in startup if m in index.modules and stdlibprune._matches(m, spec.drop)]
    if needed:
        raise BuildError(
            f"prune_stdlib.drop removes {', '.join(needed)}, which Python imports at start-up; "
            "take them off the list"
        )
    roots = [*startup, *stdlibprune.release_roots(_release_imports(release, graph), index)]
    for lib in libs:
        for ext in lib.extensions:
            roots += stdlibprune.named_in_binary(ext, index.modules)
    result = stdlibprune.prune_stdlib(
        stdlib, dynload, layout.stdlib, roots, keep=spec.keep, drop=spec.drop,
        cache=_cache_file(release, layout.stdlib), index=index, missing=missing,
    )  # fmt: skip
    listing = root / "releases" / release.version / LIST_NAME
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{m}\n" for m in result.removed), encoding="utf-8")
    total = len(result.kept) + len(result.removed)
    release.console.step(
        f"pruned the standard library: kept {len(result.kept)} of {total} modules, removed "
        f"{len(result.removed)} ({result.removed_bytes / 1e6:.1f} MB; listed in "
        f"releases/{release.version}/{LIST_NAME}; prune_stdlib.keep adds modules)"
    )
    return result
