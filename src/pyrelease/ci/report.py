"""Telling the user what CI built: step outputs, the job summary, annotations, plain text."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyrelease.ci import github
from pyrelease.ci.artifact import Artifact
from pyrelease.ci.locate import problem_line
from pyrelease.errors import ConfigError, PyreleaseError


@dataclass(frozen=True)
class Result:
    """A finished CI build: the artifact, how long the build took, where it went."""

    artifact: Artifact
    seconds: float
    uploaded_to: str
    url: str

    def outputs(self) -> dict[str, str]:
        """The step outputs, as the action declares them."""
        a = self.artifact
        return {
            "artifact": str(a.path),
            "sha256": a.sha256,
            "sha256-file": str(a.sha256_path),
            "version": a.version,
            "target": a.triple,
            "name": a.name,
            "artifact-name": a.stem,
            "url": self.url,
        }

    def rows(self) -> list[tuple[str, str]]:
        a = self.artifact
        return [
            ("Release", a.name),
            ("Version", a.version),
            ("Target", a.triple),
            ("Artifact", a.path.name),
            ("Size", _size(a.size)),
            ("sha256", a.sha256),
            ("Build time", f"{self.seconds:.1f} s"),
            ("Uploaded to", self.uploaded_to),
        ]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB ({n} bytes)"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def summary_markdown(result: Result) -> str:
    """The job summary: a heading and one table row per fact."""
    a = result.artifact
    lines = [f"### Release {a.name} {a.version} ({a.triple})", "", "| | |", "|---|---|"]
    for label, value in result.rows():
        shown = f"`{value}`" if label in ("Artifact", "sha256") else value
        lines.append(f"| {label} | {_cell(shown)} |")
    return "\n".join(lines) + "\n\n"


def plain_text(result: Result) -> str:
    """The same facts for a terminal: ``label  value`` lines."""
    width = max(len(label) for label, _ in result.rows())
    lines = [f"{label.ljust(width)}  {value}" for label, value in result.rows()]
    lines.insert(4, f"{'Path'.ljust(width)}  {result.artifact.path}")
    return "\n".join(lines) + "\n"


def report_result(result: Result, runner: github.Runner, echo: Callable[[str], None]) -> None:
    """Write the outputs and summary where the runner reads them, and print the facts."""
    if runner.output is not None:
        github.append(runner.output, github.output_lines(result.outputs()))
    if runner.summary is not None:
        github.append(runner.summary, summary_markdown(result))
    echo(plain_text(result).rstrip("\n"))


def report_error(
    exc: PyreleaseError,
    project: Path,
    release: str | None,
    runner: github.Runner,
    echo: Callable[[str], None],
    echo_err: Callable[[str], None],
) -> None:
    """An error as annotations on GitHub (configuration problems at their line of
    pyproject.toml) and as ``FILE:LINE: error: …`` lines elsewhere."""
    pyproject = project / "pyproject.toml"
    if isinstance(exc, ConfigError):
        try:
            text = pyproject.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        shown = github.workspace_relative(pyproject, runner)
        for problem in exc.problems:
            line = problem_line(problem, text, release) if text else None
            if runner.on_github:
                echo(github.annotation("error", problem, shown, line, "pyrelease configuration"))
            where = f"{shown}:{line}" if line else shown
            echo_err(f"{where}: error: {problem}")
    elif runner.on_github:
        echo(github.annotation("error", exc.message, title="pyrelease"))
        echo_err(f"ERROR: {exc.message}")
    else:
        echo_err(f"ERROR: {exc.message}")
    if exc.tip:
        echo_err(f"TIP: {exc.tip}")
