"""What a Python source file imports, read with ``ast`` and never executed.

The preload set and the ``strip`` of test folders are both decided from the
static import graph of the release's modules. ``ast`` over the sources was
chosen over the standard library's ``modulefinder``: ``modulefinder`` reads
bytecode of one interpreter version, follows the standard library too, and
runs several times slower; here only the import statements matter.

An import names every package on its way: ``import a.b.c`` imports ``a``,
``a.b`` and ``a.b.c``; ``from a.b import c`` imports ``a``, ``a.b`` and, when
``c`` is a submodule, ``a.b.c`` (the caller knows which modules exist, so the
candidate is returned and kept only when it is a module).

Both uses of the graph read it from here, with one parse per file: the preload
plan and ``strip`` (:mod:`.importgraph`) and the pruning of the standard
library (:mod:`.stdlibprune`), which also needs :attr:`Imports.named`.
"""

from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass, field

# Calls whose first argument, when a string literal, names a module to import.
IMPORT_CALLS = {"import_module", "__import__"}
# A module that calls one of them may import any module it names in a string.
_DYNAMIC_CALL = re.compile(rb"__import__\(|import_module\(")


@dataclass
class Imports:
    """The modules one file may import, each list in source order without repeats.

    ``eager`` is what importing the module itself executes: statements at
    module level and in class bodies, including those under ``try``/``if``,
    except ``if TYPE_CHECKING:`` blocks. ``required`` is the part of ``eager``
    outside any ``try`` or ``if``: when one of those is missing, importing the
    module fails. ``every`` adds the imports inside functions, which run only
    when the function is called. ``named`` is, for a module that imports by a
    computed name (``__import__(name)``, ``importlib.import_module(name)``),
    every string literal that reads as a module name (``a.b``, ``a.b:attr`` gives
    ``a.b``): a plugin list such as ``xml.sax``'s parsers. Callers keep the
    names of modules that exist.
    """

    eager: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    every: list[str] = field(default_factory=list)
    parsed: bool = True
    named: list[str] = field(default_factory=list)


def _resolve(module: str, is_package: bool, level: int, name: str | None) -> str | None:
    """The absolute name of a (possibly relative) import, None when it escapes the top."""
    if level == 0:
        return name
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level - 1 > len(parts) - 1:
        return None
    base = parts[: len(parts) - (level - 1)]
    if not base:
        return None
    return ".".join([*base, name] if name else base)


def _prefixes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, strings: bool = False) -> None:
        self.module, self.is_package, self.strings = module, is_package, strings
        self.result = Imports()
        self.named: set[str] = set()
        self.depth = 0  # > 0 inside a function body
        self.guarded = 0  # > 0 inside a try or if: the import may be optional
        self.type_checking = 0
        self.seen: dict[str, set[str]] = {"eager": set(), "required": set(), "every": set()}

    def _put(self, kind: str, names: list[str]) -> None:
        seen, out = self.seen[kind], getattr(self.result, kind)
        for name in names:
            if name not in seen and name != self.module:
                seen.add(name)
                out.append(name)

    def _add(self, name: str | None) -> None:
        if not name or self.type_checking:
            return
        names = _prefixes(name)
        self._put("every", names)
        if self.depth == 0:
            self._put("eager", names)
            if not self.guarded:
                self._put("required", names)

    def _guarded(self, node: ast.AST) -> None:
        self.guarded += 1
        self.generic_visit(node)
        self.guarded -= 1

    visit_Try = _guarded
    visit_TryStar = _guarded
    visit_While = _guarded
    visit_For = _guarded
    visit_With = _guarded
    visit_Match = _guarded

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.module, self.is_package, node.level, node.module)
        if base is None:
            return
        self._add(base)
        for alias in node.names:
            if alias.name != "*":
                self._add(f"{base}.{alias.name}")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called in IMPORT_CALLS and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                name = arg.value
                if name.startswith("."):  # import_module(".x", package=__name__)
                    level = len(name) - len(name.lstrip("."))
                    name = _resolve(self.module, True, level, name.lstrip(".") or None) or ""
                if all(p.isidentifier() for p in name.split(".")):
                    self._add(name)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if self.strings and isinstance(node.value, str):
            name = node.value.partition(":")[0]
            if name not in self.named and name and all(p.isidentifier() for p in name.split(".")):
                self.named.add(name)
                self.result.named.append(name)

    def visit_If(self, node: ast.If) -> None:
        if _is_type_checking(node.test):
            self.type_checking += 1
            for child in node.body:
                self.visit(child)
            self.type_checking -= 1
            self.guarded += 1
            for child in node.orelse:
                self.visit(child)
            self.guarded -= 1
        else:
            self._guarded(node)

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = _function
    visit_AsyncFunctionDef = _function
    visit_Lambda = _function


def imports_of(source: bytes, module: str, *, is_package: bool = False) -> Imports:
    """The modules the source of ``module`` imports (see :class:`Imports`).

    A source this interpreter cannot parse (newer syntax, a broken file)
    gives ``parsed=False`` and no imports; callers decide what that means.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning & co. are the source's business
            tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return Imports(parsed=False)
    collector = _Collector(module, is_package, strings=bool(_DYNAMIC_CALL.search(source)))
    collector.visit(tree)
    return collector.result
