"""Jinja2 templates: the user's ``rel/*.j2`` first, then pyrelease's own."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2

from pyrelease.cachedirs import user_cache_dir
from pyrelease.errors import BuildError

BUILTIN_DIR = Path(__file__).parent / "templates"

# The files `pyrelease init` writes to rel/ (the same text the assembler uses).
USER_TEMPLATES = ("env.sh.j2", "env.bat.j2", "vm.args.j2", "remote.vm.args.j2")


def environment(user_dir: Path | None) -> jinja2.Environment:
    """An environment looking in ``user_dir`` before the built-in templates.

    Compiled templates are kept in ``~/.cache/pyrelease/templates`` (jinja2's own
    bytecode cache, keyed by the template's name and source and by the Python
    version), so a build does not compile them again.
    """
    dirs = [str(user_dir)] if user_dir and user_dir.is_dir() else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*dirs, str(BUILTIN_DIR)]),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        bytecode_cache=_bytecode_cache(),
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    folder = user_cache_dir() / "templates"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    if not os.access(folder, os.W_OK | os.X_OK):
        return None  # a read-only cache only costs time
    return jinja2.FileSystemBytecodeCache(str(folder))


def render(env: jinja2.Environment, name: str, **context: Any) -> str:
    """Render one template; errors name the template file and line."""
    try:
        return env.get_template(name).render(**context)
    except jinja2.TemplateSyntaxError as exc:
        where = exc.filename or name
        raise BuildError(
            f"the template {where} has an error on line {exc.lineno}: {exc.message}"
        ) from None
    except jinja2.TemplateError as exc:
        raise BuildError(f"rendering the template {name} failed: {exc}") from None
