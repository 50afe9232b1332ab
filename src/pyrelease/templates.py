"""Jinja2 templates: the user's ``rel/*.j2`` first, then pyrelease's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from pyrelease.errors import BuildError

BUILTIN_DIR = Path(__file__).parent / "templates"

# The files `pyrelease init` writes to rel/ (the same text the assembler uses).
USER_TEMPLATES = ("env.sh.j2", "env.bat.j2", "vm.args.j2", "remote.vm.args.j2")


def environment(user_dir: Path | None) -> jinja2.Environment:
    """An environment looking in ``user_dir`` before the built-in templates."""
    dirs = [str(user_dir)] if user_dir and user_dir.is_dir() else []
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader([*dirs, str(BUILTIN_DIR)]),
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
        autoescape=False,
    )


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
