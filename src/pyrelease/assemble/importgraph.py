"""The release's static import graph: which test folders code needs, what to preload.

Modules are read with ``ast`` (never imported) when a decision needs them,
and what each imports is cached per distribution, keyed by its sources::

    _build/ENV/lib-cache/imports/
      django-5.2.1-0f1e2d3c4b5a6978.json   module -> imports (eager, required, every, named)

Four decisions rest on it:

* ``strip`` removes a ``test``/``tests`` folder only when no module outside
  it imports anything inside it (Django's ``django/test/`` is imported by
  ``django.core`` and friends; its ``tests/`` folders are not);
* ``strip`` keeps the sources of a distribution whose code reads sources with
  ``inspect`` (:func:`source_readers`);
* embedded mode preloads the modules reachable from the applications' start
  callables, the config providers and ``config/runtime.py``, plus what the
  release's ``preload.include`` lists, minus test modules, plugins for other
  tools (pytest), ``__main__`` modules, ``preload.exclude`` and modules that
  would fail for a module the release does not have;
* ``prune_stdlib`` keeps the standard-library modules that any module of the
  release imports or names (:mod:`.prunestep`).
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from pyrelease.assemble.imports import imports_of
from pyrelease.assemble.libs import EXTENSION_SUFFIXES, TEST_DIRS
from pyrelease.distributions import Distribution

FORMAT = 2
# Name parts that mark a module as a test or a test-runner plugin, never preloaded.
TEST_PARTS = {"test", "tests", "testing", "conftest", "__main__"}
# Development tools: a module importing one of them at import time is a plugin for it.
TOOLS = {"pytest", "_pytest", "setuptools", "distutils", "nose", "pip"}
# Entry-point groups through which other tools load plugins from a distribution.
TOOL_GROUPS = {"pytest11"}


@dataclass
class ModuleRecord:
    """One module of a distribution: its file and, once read, what it imports."""

    file: str  # relative to site-packages
    package: bool = False
    eager: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    every: list[str] = field(default_factory=list)
    parsed: bool = True
    named: list[str] = field(default_factory=list)  # see Imports.named
    scanned: bool = False  # imports read (extension modules have none to read)


def module_of(rel: str) -> tuple[str, bool] | None:
    """``a/b/__init__.py`` → (``a.b``, package); ``a/_c.cpython-311-….so`` → (``a._c``, not)."""
    parts = rel.split("/")
    if not all(p.isidentifier() for p in parts[:-1]):
        return None
    filename = parts[-1]
    if not filename.endswith((".py", *EXTENSION_SUFFIXES)):
        return None
    stem = filename.split(".")[0]
    if not stem.isidentifier():
        return None
    if stem == "__init__":
        return (".".join(parts[:-1]), True) if len(parts) > 1 else None
    return ".".join([*parts[:-1], stem]), False


def _cache_key(dist: Distribution, site: Path) -> str:
    h = hashlib.sha256(json.dumps([FORMAT, sys.version_info[:2]]).encode())
    here = Path(__file__).parent
    for name in ("imports.py", "importgraph.py"):
        h.update(hashlib.sha256((here / name).read_bytes()).digest())
    for rel in dist.files:
        if module_of(rel) is None:
            continue
        h.update(rel.encode() + b"\0")
        path = site / rel
        if rel.endswith(".py") and path.is_file():
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:16]


_SCANNED = ("eager", "required", "every", "parsed", "named")


class Graph:
    """The modules of the release's distributions, by name; imports read on demand.

    Only the modules a decision needs are parsed (for Django, about a third
    of them); what was read is cached per distribution by :meth:`save`.
    """

    def __init__(self, site: Path) -> None:
        self.site = site
        self.modules: dict[str, ModuleRecord] = {}
        self.owner: dict[str, str] = {}  # module -> distribution name
        self._cache: dict[str, Path] = {}  # distribution name -> its cache file
        self._dirty: set[str] = set()

    @classmethod
    def build(cls, dists: Iterable[Distribution], site: Path, cache_dir: Path | None) -> Graph:
        """List every module (the first distribution installing a name owns it)."""
        graph = cls(site)
        for dist in dists:
            cached: dict[str, dict] = {}
            if cache_dir is not None:
                path = cache_dir / "imports" / f"{dist.lib_name}-{_cache_key(dist, site)}.json"
                graph._cache[dist.name] = path
                try:
                    cached = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    cached = {}
            for rel in dist.files:
                found = module_of(rel)
                if found is None or found[0] in graph.modules or not (site / rel).is_file():
                    continue
                name, package = found
                record = ModuleRecord(rel, package, scanned=not rel.endswith(".py"))
                known = cached.get(name)
                if isinstance(known, dict) and set(known) == set(_SCANNED):
                    record.eager, record.required = known["eager"], known["required"]
                    record.every, record.parsed = known["every"], known["parsed"]
                    record.named, record.scanned = known["named"], True
                graph.modules[name] = record
                graph.owner[name] = dist.name
        return graph

    def source(self, name: str) -> bytes:
        """The source of a module (empty when unreadable or an extension)."""
        record = self.modules[name]
        try:
            return (self.site / record.file).read_bytes() if record.file.endswith(".py") else b""
        except OSError:
            return b""

    def record(self, name: str) -> ModuleRecord | None:
        """The module's record with its imports read, None when the release lacks it."""
        record = self.modules.get(name)
        if record is None or record.scanned:
            return record
        source = self.source(name)
        if b"import" in source:  # no import statement, no import_module/__import__ call
            found = imports_of(source, name, is_package=record.package)
            record.eager, record.required = found.eager, found.required
            record.every, record.parsed = found.every, found.parsed
            record.named = found.named
        record.scanned = True
        self._dirty.add(self.owner[name])
        return record

    def save(self) -> None:
        """Write what was read to the per-distribution caches (atomically)."""
        for dist_name in sorted(self._dirty & set(self._cache)):
            data = {
                name: {key: getattr(rec, key) for key in _SCANNED}
                for name, rec in sorted(self.modules.items())
                if self.owner[name] == dist_name and rec.scanned and rec.file.endswith(".py")
            }
            _store(self._cache[dist_name], data)
        self._dirty.clear()


def _store(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".filling-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


def _test_trees(dists: Iterable[Distribution]) -> dict[str, tuple[str, str]]:
    """Importable test folders: dotted name → (distribution, folder relative to site)."""
    trees: dict[str, tuple[str, str]] = {}
    for dist in dists:
        for rel in dist.files:
            parts = rel.split("/")[:-1]
            for i, part in enumerate(parts):
                head = parts[: i + 1]
                if part in TEST_DIRS and all(p.isidentifier() for p in head):
                    trees.setdefault(".".join(head), (dist.name, "/".join(head)))
    return trees


def _within(name: str, trees: dict[str, tuple[str, str]]) -> list[str]:
    parts = name.split(".")
    return [p for p in (".".join(parts[: i + 1]) for i in range(len(parts))) if p in trees]


def needed_test_dirs(graph: Graph, dists: list[Distribution]) -> dict[str, set[str]]:
    """Test folders that code outside them imports: distribution name → folders to keep.

    A folder is needed when a module kept in the release (outside every test
    folder, or inside needed ones only) imports a module inside it, at import
    time or from a function. Only sources that mention a test folder's name
    can import it, so only those are parsed. A source this interpreter cannot
    parse counts as importing every test folder of its package it mentions.
    """
    trees = _test_trees(dists)
    if not trees:
        return {}
    words = {t.rsplit(".", 1)[-1].encode() for t in trees}
    mentions: dict[str, bytes] = {}
    for name in graph.modules:
        source = graph.source(name)
        if any(word in source for word in words):
            mentions[name] = source
    needed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, source in mentions.items():
            if any(t not in needed for t in _within(name, trees)):
                continue  # stripped (so far): what it imports does not count
            record = graph.record(name)
            assert record is not None
            wanted = record.every if record.parsed else _mentioned(name, source, trees)
            for target in wanted:
                for tree in _within(target, trees):
                    if tree not in needed:
                        needed.add(tree)
                        changed = True
    result: dict[str, set[str]] = {}
    for tree in needed:
        dist_name, rel = trees[tree]
        result.setdefault(dist_name, set()).add(rel)
    return result


# Calls through which a library reads Python sources at run time (``inspect``).
SOURCE_READERS = re.compile(rb"\b(?:getsource|getsourcelines|findsource|getsourcefile)\b")


def source_readers(graph: Graph) -> set[str]:
    """Distributions whose code calls ``inspect.getsource`` and friends: ``strip`` keeps
    their sources (without them anyio imports every submodule eagerly, FastAPI and
    pydantic take slower paths). A text search: a mention in a comment counts too."""
    found: set[str] = set()
    for name, record in graph.modules.items():
        owner = graph.owner[name]
        if owner in found or not record.file.endswith(".py"):
            continue
        if SOURCE_READERS.search(graph.source(name)):
            found.add(owner)
    return found


def _mentioned(name: str, source: bytes, trees: dict) -> list[str]:
    top = name.split(".")[0]
    return [t for t in trees if t.split(".")[0] == top and t.rsplit(".")[-1].encode() in source]


@dataclass
class PreloadPlan:
    """The modules to import at boot, in order, and those reached but left out, with why."""

    modules: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def tool_plugins(dists: Iterable[Distribution], site: Path) -> set[str]:
    """Modules that distributions register as plugins of other tools (``pytest11``)."""
    found: set[str] = set()
    for dist in dists:
        path = site / dist.dist_info / "entry_points.txt"
        if not path.is_file():
            continue
        parser = configparser.ConfigParser(delimiters=("=",), interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        try:
            parser.read_string(path.read_text(encoding="utf-8"))
        except (configparser.Error, UnicodeDecodeError):
            continue
        for group in TOOL_GROUPS & set(parser.sections()):
            for value in parser[group].values():
                found.add(value.split(":")[0].strip())
    return found


def _name_rule(name: str) -> str | None:
    for part in name.split("."):
        if part == "__main__":
            return "a __main__ module (runs a program when imported)"
        if "pytest" in part:
            return "a pytest plugin"
        if part in TEST_PARTS or part.startswith("test_") or part.endswith(("_test", "_tests")):
            return "a test module"
    return None


class _Planner:
    """Decides, for every module the release ships, whether it may be preloaded."""

    def __init__(
        self,
        graph: Graph,
        candidates: set[str],
        available: set[str],
        plugins: set[str],
        exclude: tuple[str, ...],
    ) -> None:
        self.graph, self.candidates = graph, candidates
        self.plugins, self.exclude = plugins, exclude
        self.tops = {n.split(".")[0] for n in available} | set(sys.stdlib_module_names)
        # name -> (reason, whether modules importing it at import time are left out too)
        self.reasons = {n: r for n in sorted(candidates) if (r := self._own_reason(n))}
        self._spread()

    def why_not(self, name: str) -> str | None:
        """Why ``name`` must not be preloaded, or None when it may be."""
        found = self.reasons.get(name)
        return found[0] if found else None

    def _own_reason(self, name: str) -> tuple[str, bool] | None:
        for pattern in self.exclude:
            if fnmatchcase(name, pattern):
                return f"excluded by preload.exclude {pattern!r}", True
        rule = _name_rule(name)
        if rule:
            # A test package that run-time code imports at import time (django.test)
            # runs anyway when that code is imported: its importers stay in.
            return rule, rule != "a test module"
        if name in self.plugins:
            return "a plugin of another tool (entry point group pytest11)", True
        record = self.graph.record(name)
        if record is None:
            return None
        own = name.split(".")[0]
        for target in record.required:
            top = target.split(".")[0]
            if top in TOOLS and top != own:  # setuptools' own modules import setuptools
                return f"imports {top}, a development tool", True
        for target in record.required:
            top = target.split(".")[0]
            if top not in self.tops:
                return f"needs {top}, which the release does not have", True
        return None

    def _spread(self) -> None:
        """Leave out what imports a left-out module at import time, until nothing changes.

        Iterative (no recursion limit on long chains), in sorted order so the
        reasons are the same at every build; import cycles stay in.
        """
        todo = sorted(n for n in self.candidates if n not in self.reasons)
        changed = True
        while changed:
            changed = False
            for name in todo:
                if name in self.reasons:
                    continue
                record = self.graph.record(name)
                for target in record.required if record else ():
                    found = self.reasons.get(target)
                    if found and found[1] and target != name:
                        self.reasons[name] = (f"imports {target}, which is not preloaded", True)
                        changed = True
                        break


def reach(graph: Graph, starts: list[str], available: set[str]) -> set[str]:
    """Every module of ``available`` that ``starts`` import, directly or not, in any way."""
    seen: set[str] = set()
    stack = list(starts)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        record = graph.record(name)
        if record is not None:
            stack.extend(n for n in record.every if n in available and n not in seen)
    return seen


def plan_preload(
    graph: Graph,
    roots: list[str],
    available: set[str],
    *,
    include: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    plugins: set[str] = frozenset(),  # type: ignore[assignment]
) -> PreloadPlan:
    """The preload list: ``roots`` and what they import, depth first, in source order.

    ``available`` is every module the release ships on its path. A module is
    listed before the modules it reaches, as importing it would import them;
    a module left out is not followed.
    """
    extra = sorted(n for n in available if any(fnmatchcase(n, p) for p in include))
    starts = [n for n in [*roots, *extra] if n in available]
    planner = _Planner(graph, reach(graph, starts, available), available, plugins, exclude)
    plan = PreloadPlan()
    listed: set[str] = set()
    stack = list(reversed(starts))
    while stack:
        name = stack.pop()
        if name in listed or name in plan.skipped:
            continue
        reason = planner.why_not(name)
        if reason is not None:
            plan.skipped[name] = reason
            continue
        listed.add(name)
        plan.modules.append(name)
        record = graph.record(name)
        if record is not None:
            stack.extend(n for n in reversed(record.every) if n in available and n not in listed)
    # A test-named module that a listed module imports at import time (jinja2.tests,
    # the built-in Jinja tests) is loaded anyway: it is not left out.
    loaded = {n for m in plan.modules for n in getattr(graph.record(m), "eager", ())}
    plan.skipped = {
        name: reason
        for name, reason in sorted(plan.skipped.items())
        if not (reason == "a test module" and name in loaded)
    }
    return plan
