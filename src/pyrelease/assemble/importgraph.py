"""The release's static import graph: which test folders code needs, what to preload.

Every module of every distribution is read once with ``ast`` (never
imported) and what it imports is cached per distribution, keyed by its
sources, under ``_build/ENV/lib-cache/imports/``::

    _build/ENV/lib-cache/imports/
      django-5.2.1-0f1e2d3c4b5a6978.json   module -> file, imports (eager, required, every)

Two decisions rest on it:

* ``strip`` removes a ``test``/``tests`` folder only when no module outside
  it imports anything inside it (Django's ``django/test/`` is imported by
  ``django.core`` and friends; its ``tests/`` folders are not);
* embedded mode preloads the modules reachable from the applications' start
  callables, the config providers and ``config/runtime.py``, plus what the
  release's ``preload.include`` lists, minus test modules, plugins for other
  tools (pytest), ``__main__`` modules, ``preload.exclude`` and modules that
  would fail for a module the release does not have.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from pyrelease.assemble.imports import imports_of
from pyrelease.distributions import Distribution

FORMAT = 1
TEST_DIRS = {"tests", "test"}
EXTENSION_SUFFIXES = (".so", ".pyd")
# Name parts that mark a module as a test or a test-runner plugin, never preloaded.
TEST_PARTS = {"test", "tests", "testing", "conftest", "__main__"}
# Development tools: a module importing one of them at import time is a plugin for it.
TOOLS = {"pytest", "_pytest", "setuptools", "distutils", "nose", "pip"}
# Entry-point groups through which other tools load plugins from a distribution.
TOOL_GROUPS = {"pytest11"}


@dataclass
class ModuleRecord:
    """One module of a distribution: its file and what it imports."""

    file: str  # relative to site-packages
    package: bool = False
    eager: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    every: list[str] = field(default_factory=list)
    parsed: bool = True


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


def scan(dist: Distribution, site: Path, cache_dir: Path | None) -> dict[str, ModuleRecord]:
    """Every module of ``dist`` with its imports (read from the cache when it is there)."""
    cached = None
    if cache_dir is not None:
        cached = cache_dir / "imports" / f"{dist.lib_name}-{_cache_key(dist, site)}.json"
        try:
            data = json.loads(cached.read_text(encoding="utf-8"))
            return {name: ModuleRecord(**rec) for name, rec in data.items()}
        except (OSError, ValueError, TypeError):
            pass
    modules: dict[str, ModuleRecord] = {}
    for rel in dist.files:
        found = module_of(rel)
        path = site / rel
        if found is None or not path.is_file():
            continue
        name, package = found
        record = ModuleRecord(rel, package)
        if rel.endswith(".py"):
            imports = imports_of(path.read_bytes(), name, is_package=package)
            record.eager, record.required = imports.eager, imports.required
            record.every, record.parsed = imports.every, imports.parsed
        modules.setdefault(name, record)
    if cached is not None:
        _store(cached, {name: asdict(rec) for name, rec in sorted(modules.items())})
    return modules


def _store(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".filling-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, sort_keys=True)
    os.replace(tmp, path)


@dataclass
class Graph:
    """The modules of the release's distributions, by name, and who owns each."""

    modules: dict[str, ModuleRecord] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)  # module -> distribution name

    @classmethod
    def build(cls, dists: Iterable[Distribution], site: Path, cache_dir: Path | None) -> Graph:
        """Scan every distribution (first owner wins for a name two of them install)."""
        graph = cls()
        for dist in dists:
            for name, record in scan(dist, site, cache_dir).items():
                if name not in graph.modules:
                    graph.modules[name] = record
                    graph.owner[name] = dist.name
        return graph


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


def needed_test_dirs(graph: Graph, dists: list[Distribution], site: Path) -> dict[str, set[str]]:
    """Test folders that code outside them imports: distribution name → folders to keep.

    A folder is needed when a module kept in the release (outside every test
    folder, or inside needed ones only) imports a module inside it, at import
    time or from a function. A source this interpreter cannot parse counts as
    importing every test folder of its package whose name it mentions.
    """
    trees = _test_trees(dists)
    needed: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, record in graph.modules.items():
            if any(t not in needed for t in _within(name, trees)):
                continue  # stripped (so far): what it imports does not count
            wanted = record.every if record.parsed else _mentioned(name, record, trees, site)
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


def _mentioned(name: str, record: ModuleRecord, trees: dict, site: Path) -> list[str]:
    top = name.split(".")[0]
    try:
        text = (site / record.file).read_bytes()
    except OSError:
        return []
    return [t for t in trees if t.split(".")[0] == top and t.rsplit(".")[-1].encode() in text]


@dataclass
class PreloadPlan:
    """The modules to import at boot, in order, and those reached but left out, with why."""

    modules: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def tool_plugins(dists: Iterable[Distribution], site: Path) -> set[str]:
    """Modules that distributions register as plugins of other tools (``pytest11``)."""
    import configparser

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
    """Decides, module by module, whether it may be preloaded."""

    def __init__(
        self, graph: Graph, available: set[str], plugins: set[str], exclude: tuple[str, ...]
    ) -> None:
        self.graph, self.available, self.plugins, self.exclude = graph, available, plugins, exclude
        self.tops = {n.split(".")[0] for n in available} | set(sys.stdlib_module_names)
        self.reasons: dict[str, tuple[str, bool] | None] = {}

    def why_not(self, name: str) -> str | None:
        """Why ``name`` must not be preloaded, or None when it may be."""
        found = self._decide(name)
        return found[0] if found else None

    def _decide(self, name: str) -> tuple[str, bool] | None:
        """(reason, whether importers are left out too), or None."""
        if name in self.reasons:
            return self.reasons[name]
        self.reasons[name] = None  # an import cycle resolves as "may be" for now
        found = self._why_not(name)
        self.reasons[name] = found
        return found

    def _why_not(self, name: str) -> tuple[str, bool] | None:
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
        record = self.graph.modules.get(name)
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
        for target in record.required:
            if target in self.available and target != name:
                found = self._decide(target)
                if found and found[1]:
                    return f"imports {target}, which is not preloaded", True
        return None


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
    planner = _Planner(graph, available, plugins, exclude)
    plan = PreloadPlan()
    listed: set[str] = set()
    extra = sorted(n for n in available if any(fnmatchcase(n, p) for p in include))
    stack = [n for n in reversed([*roots, *extra]) if n in available]
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
        record = graph.modules.get(name)
        if record is not None:
            stack.extend(n for n in reversed(record.every) if n in available and n not in listed)
    # A test-named module that a listed module imports at import time (jinja2.tests,
    # the built-in Jinja tests) is loaded anyway: it is not left out.
    loaded = {n for m in plan.modules for n in getattr(graph.modules.get(m), "eager", ())}
    plan.skipped = {
        name: reason
        for name, reason in sorted(plan.skipped.items())
        if not (reason == "a test module" and name in loaded)
    }
    return plan
