"""The build-time configuration (``_sysconfigdata_*.py``), made to follow the runtime.

CPython records its configure-time values in ``lib/pythonX.Y/_sysconfigdata_*.py``
(``build_time_vars``), and ``sysconfig.get_config_vars()`` returns them as they are: the
installation prefix appears in some 40 to 80 of them (``prefix``, ``LIBDIR``, ``BINDIR``,
``INCLUDEPY``, ``CONFIG_ARGS``, ``LDFLAGS``...). The bundle rewrites the module so that
every occurrence is computed at import from ``sys.base_prefix`` (``sys.base_exec_prefix``
for the exec prefix)::

    import sys as _sys

    build_time_vars = {
        'BINDIR': _sys.base_prefix + '/bin',
        'LDFLAGS': '-L' + _sys.base_prefix + '/lib -Wl,-rpath,' + _sys.base_prefix + '/lib',
        ...
    }

so ``sysconfig.get_config_var("LIBDIR")`` is the runtime's own ``lib/`` wherever the
release was moved, and no path of the build machine's installation is shipped. Values
naming CPython's own build directory (``abs_builddir``) are left as they are.

A prefix shared with the system (``/usr``, ``/usr/local``) is left alone: there the same
string also names the target's own files (``INSTALL = '/usr/bin/install -c'``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from pyrelease.errors import BuildError

#: Prefixes that name the system's directories as much as the installation's.
SYSTEM_PREFIXES = frozenset({"/", "/usr", "/usr/local"})

_HEADER = """\
# system configuration generated and used by the sysconfig module
# (rewritten by pyrelease: the installation prefix is the runtime's own, wherever it is)
import sys as _sys

build_time_vars = {
"""
_FOOTER = "}\n\ndel _sys\n"


def relocate_sysconfigdata(stdlib: Path, prefix: Path) -> list[Path]:
    """Rewrite each ``stdlib/_sysconfigdata_*.py`` naming ``prefix``; return those rewritten."""
    rewritten = []
    for path in sorted(stdlib.glob("_sysconfigdata_*.py")):
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, str(prefix), path)
        if new is not None:
            path.write_text(new, encoding="utf-8")
            rewritten.append(path)
    return rewritten


def rewrite(text: str, prefix: str, path: Path | str = "_sysconfigdata") -> str | None:
    """The relocatable text of a ``_sysconfigdata`` module; None when nothing names a prefix.

    ``prefix`` is the installation's ``sys.base_prefix``; the ``prefix`` and
    ``exec_prefix`` values recorded in the module are replaced as well (they differ from it
    when the installation was itself moved after being built).
    """
    values = _build_time_vars(text, path)
    exprs: dict[str, str] = {}
    for key, expr in (("exec_prefix", "_sys.base_exec_prefix"), ("prefix", "_sys.base_prefix")):
        if isinstance(values.get(key), str):
            exprs[values[key]] = expr
    exprs[prefix] = "_sys.base_prefix"
    exprs = {p.rstrip("/"): e for p, e in exprs.items()}
    exprs = {p: e for p, e in exprs.items() if p and p not in SYSTEM_PREFIXES}
    if not exprs:
        return None
    # Longest first; a prefix must not run on into a longer name ("3.12.1" in "3.12.10").
    alternatives = "|".join(re.escape(p) for p in sorted(exprs, key=len, reverse=True))
    pattern = re.compile(f"(?:{alternatives})(?![\\w.+-])")
    if not any(isinstance(v, str) and pattern.search(v) for v in values.values()):
        return None
    lines = [f"    {key!r}: {_render(value, pattern, exprs)},\n" for key, value in values.items()]
    return _HEADER + "".join(lines) + _FOOTER


def _build_time_vars(text: str, path: Path | str) -> dict[str, object]:
    """The ``build_time_vars`` literal of a module that holds nothing else."""
    try:
        body = ast.parse(text).body
        if (
            len(body) == 1
            and isinstance(body[0], ast.Assign)
            and [ast.unparse(t) for t in body[0].targets] == ["build_time_vars"]
        ):
            values = ast.literal_eval(body[0].value)
            if isinstance(values, dict) and all(isinstance(k, str) for k in values):
                return values
    except (SyntaxError, ValueError) as exc:
        raise BuildError(f"cannot read the build configuration {path}: {exc}") from None
    raise BuildError(
        f"cannot relocate the build configuration {path}: it is not a plain "
        "'build_time_vars = {...}' module"
    )


def _render(value: object, pattern: re.Pattern[str], exprs: dict[str, str]) -> str:
    """``value`` as Python source, each prefix in it replaced by its expression."""
    if not isinstance(value, str):
        return repr(value)
    parts, pos = [], 0
    for match in pattern.finditer(value):
        if match.start() > pos:
            parts.append(repr(value[pos : match.start()]))
        parts.append(exprs[match.group(0)])
        pos = match.end()
    if pos < len(value) or not parts:
        parts.append(repr(value[pos:]))
    return " + ".join(parts)
