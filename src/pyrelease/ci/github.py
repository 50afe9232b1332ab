"""The files and workflow commands a GitHub Actions step talks to the runner with.

A step gets ``GITHUB_OUTPUT`` (its outputs), ``GITHUB_STEP_SUMMARY`` (Markdown
for the job's summary page) and reads workflow commands such as
``::error file=F,line=N::message`` from its standard output. Outside GitHub
none of these are set and the same information is printed as plain text.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Runner:
    """What the environment says about where this step runs."""

    on_github: bool
    output: Path | None
    summary: Path | None
    workspace: Path | None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Runner:
        """The runner described by ``GITHUB_ACTIONS``, ``GITHUB_OUTPUT``, ... in ``environ``."""

        def path(key: str) -> Path | None:
            value = environ.get(key, "")
            return Path(value) if value else None

        return cls(
            on_github=environ.get("GITHUB_ACTIONS") == "true",
            output=path("GITHUB_OUTPUT"),
            summary=path("GITHUB_STEP_SUMMARY"),
            workspace=path("GITHUB_WORKSPACE"),
        )


def output_lines(outputs: Mapping[str, str]) -> str:
    """``outputs`` in the ``GITHUB_OUTPUT`` format.

    Every value uses the ``name<<DELIMITER`` form with a random delimiter, so a
    value holding a newline cannot add an output of its own (GitHub's advice).
    """
    text = []
    for name, value in outputs.items():
        delimiter = f"ghadelimiter_{secrets.token_hex(8)}"
        text.append(f"{name}<<{delimiter}\n{value}\n{delimiter}\n")
    return "".join(text)


def append(path: Path, text: str) -> None:
    """Append ``text`` to a runner file (the runner reads it after the step)."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(text)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: str, message: str, file: str | None = None, line: int | None = None, title: str = ""
) -> str:
    """A workflow command such as ``::error file=pyproject.toml,line=12::message``.

    Escaped as the runner expects, so a message with ``%``, ``:`` or a newline
    arrives whole and cannot start a command of its own.
    """
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
        if line:
            props.append(f"line={line}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def workspace_relative(path: Path, runner: Runner) -> str:
    """``path`` as GitHub shows files of the repository: relative to the workspace.

    Outside GitHub (or outside the workspace) relative to the current directory
    when below it, else absolute.
    """
    for base in (runner.workspace, Path.cwd()):
        if base is None:
            continue
        try:
            return path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            continue
    return str(path)


def relpath_or_abs(path: Path) -> str:
    """For messages: relative to the current directory when below it."""
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path) if rel.startswith("..") else rel
