"""Check, without importing anything, what the node will load at boot.

* every start callable (``mod`` in ``[tool.pyrelease]``, or a distribution's
  ``pyrelease.application`` entry point) of an application the node starts,
  and every ``module:Callable`` config provider: its module is in the
  release's ``lib/`` and compiles, and the name is defined at module level;
* the runtime configuration file (``config/runtime.py``) compiles.

Module level means what ``ast`` can see: definitions, assignments and imports,
also inside ``if``/``try``/``with``/``for`` blocks. A module with a
``from x import *`` or a module-level ``__getattr__`` is given the benefit of
the doubt. Syntax is checked with the build's Python; when it is older than
the release's, a syntax error it reports may be newer syntax, so it is not held
against the file.
"""

from __future__ import annotations

import ast
import difflib
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from pyrelease.errors import BuildError
from pyrelease.release import Release

if TYPE_CHECKING:
    from pyrelease.assemble.libs import LibDir

#: Modes whose applications the node starts (their start callable is loaded at boot).
STARTED = ("permanent", "transient", "temporary")


def check_release(release: Release, root: Path, libs: list[LibDir]) -> None:
    """Refuse a release whose start callables or config providers cannot load."""
    problems = []
    project_key = _key(release.project.name)
    for lib in libs:
        dist = lib.dist
        if dist.mode not in STARTED or not dist.start:
            continue
        if dist.name == project_key and release.project.mod == dist.start:
            setting = "`mod` in [tool.pyrelease]"
        else:
            setting = f"the `pyrelease.application` entry point of {dist.display_name}"
        problems += _check_ref(release, root, libs, dist.start, setting)
    for provider in release.spec.config_providers:
        if ":" in provider.ref:
            problems += _check_ref(release, root, libs, provider.ref, "`config_providers`")
    if problems:
        raise BuildError(
            problems[0] if len(problems) == 1 else "; ".join(problems),
            tip="correct the name, or add the module to the distribution that should ship it",
        )


def check_runtime_config(release: Release) -> None:
    """A syntax error in the runtime configuration file stops the build, not the boot."""
    rel = release.spec.runtime_config_path
    if rel is None:
        return
    path = release.project.root / rel
    if not path.is_file():
        return
    error = _syntax_error(path.read_bytes(), rel, release)
    if error:
        raise BuildError(
            f"{rel} {error}",
            tip="fix it; the release runs this file at every boot",
        )


def _key(name: str) -> str:
    from packaging.utils import canonicalize_name

    return str(canonicalize_name(name))


def _syntax_error(source: bytes, shown: str, release: Release) -> str | None:
    """``"has a syntax error on line N: MESSAGE"``, or None when it compiles."""
    try:
        compile(source, shown, "exec", flags=ast.PyCF_ONLY_AST, dont_inherit=True)
    except SyntaxError as exc:
        if not _build_python_is_recent_enough(release):
            return None
        return f"has a syntax error on line {exc.lineno}: {exc.msg}"
    return None


def _build_python_is_recent_enough(release: Release) -> bool:
    target = getattr(release.python, "version_short", None)
    if not target:
        return True
    wanted = tuple(int(p) for p in str(target).split(".")[:2])
    return sys.version_info[:2] >= wanted


def _check_ref(
    release: Release, root: Path, libs: list[LibDir], ref: str, setting: str
) -> list[str]:
    module, _, attr = ref.partition(":")
    name = attr.split(".")[0]
    located = _source(release, libs, module)
    if located is not None:  # checked first: a module that does not compile is left out
        shown = f"{module} ({located[0]})"
        error = _syntax_error(located[1], shown, release)
        if error:
            return [f"{setting} names `{ref}`, but the module {shown} {error}"]
    if _find_module(root, libs, module) is None:
        known = sorted({m for lib in libs for m in _source_modules(lib)})
        hint = _close(module, known)
        return [f"{setting} names `{ref}`, but there is no module {module} in the release{hint}"]
    if located is None:  # an extension module or sourceless code: nothing to read
        return []
    try:
        tree = ast.parse(located[1])
    except SyntaxError:
        return []
    names = module_level_names(tree)
    if names is None or name in names:
        return []
    hint = _close(name, sorted(names))
    return [f"{setting} names `{ref}`, but {module} defines no `{name}` at module level{hint}"]


def _close(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f"; did you mean `{close[0]}`?" if close else ""


def _candidates(module: str) -> list[str]:
    base = module.replace(".", "/")
    return [f"{base}.py", f"{base}/__init__.py", f"{base}.pyc", f"{base}/__init__.pyc"]


def _find_module(root: Path, libs: list[LibDir], module: str) -> tuple[LibDir, str] | None:
    """The lib folder (or zip) of the release holding ``module``, and its file there."""
    base = module.replace(".", "/")
    for lib in libs:
        if lib.dist.mode == "none":
            continue  # not on the node's path
        where = root / lib.rel_path
        if lib.rel_path.endswith(".zip"):
            with zipfile.ZipFile(where) as z:
                names = set(z.namelist())
            hits = [c for c in _candidates(module) if c in names]
        else:
            hits = [c for c in _candidates(module) if (where / c).is_file()]
            parent = (where / base).parent
            if not hits and parent.is_dir():  # extension modules: NAME.cpython-311-....so
                stem = base.rsplit("/", 1)[-1]
                hits = [
                    f"{base}{p.name[len(stem) :]}"
                    for p in sorted(parent.glob(f"{stem}.*"))
                    if p.suffix in (".so", ".pyd")
                ]
        if hits:
            return lib, hits[0]
    return None


def _source(release: Release, libs: list[LibDir], module: str) -> tuple[str, bytes] | None:
    """The module's source as installed in the build environment (``strip`` removes it
    from the release), as (path relative to site-packages, bytes)."""
    if release.site_packages is None:
        return None
    for lib in libs:
        if lib.dist.mode == "none":
            continue
        for rel in _candidates(module)[:2]:
            path = release.site_packages / rel
            if rel in lib.dist.files and path.is_file():
                return rel, path.read_bytes()
    return None


def _source_modules(lib: LibDir) -> list[str]:
    """Module names of a distribution's Python files (for "did you mean")."""
    names = []
    for rel in lib.dist.files:
        if rel.endswith(".py") and not rel.startswith(lib.dist.dist_info):
            dotted = rel[:-3].replace("/", ".")
            names.append(dotted.removesuffix(".__init__"))
    return names


def module_level_names(tree: ast.Module) -> set[str] | None:
    """Names bound at a module's top level, or None when that cannot be told."""
    names: set[str] = set()
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif type(node).__name__ == "TypeAlias":  # Python 3.12+
            names.add(node.name.id)  # type: ignore[attr-defined]
        else:
            if isinstance(node, ast.For | ast.AsyncFor):
                names |= {n.id for n in ast.walk(node.target) if isinstance(n, ast.Name)}
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        found = ast.walk(item.optional_vars)
                        names |= {n.id for n in found if isinstance(n, ast.Name)}
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo += [s for s in getattr(node, field, []) if isinstance(s, ast.stmt)]
            for handler in getattr(node, "handlers", []):
                todo += handler.body
        for expr in ast.walk(node) if isinstance(node, ast.Assign | ast.Expr) else ():
            if isinstance(expr, ast.NamedExpr):
                names.add(expr.target.id)
    return None if "__getattr__" in names else names
