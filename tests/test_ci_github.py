"""The runner's file and command formats: outputs that cannot be forged, annotations
that arrive whole."""

from __future__ import annotations

from pathlib import Path

from ci_helpers import annotations, read_outputs
from pyrelease.ci import github


def test_outputs_round_trip_through_the_runners_format(tmp_path: Path) -> None:
    out = tmp_path / "out"
    hostile = "1.0\nsha256=forged\nurl<<EOF"
    github.append(out, github.output_lines({"version": hostile, "sha256": "abc", "url": ""}))
    assert read_outputs(out) == {"version": hostile, "sha256": "abc", "url": ""}


def test_annotation_with_file_and_line() -> None:
    line = github.annotation("error", "release web: `quiet` must be true", "svc/pyproject.toml", 12)
    assert line == "::error file=svc/pyproject.toml,line=12::release web: `quiet` must be true"


def test_annotation_escapes_what_would_end_it_early() -> None:
    message = "100% wrong:\n::warning::injected"
    line = github.annotation("error", message, "a,b:c.toml", 3, title="x: y")
    assert "\n" not in line
    [found] = annotations(line)
    assert found == {
        "level": "error",
        "message": message,
        "file": "a,b:c.toml",
        "line": "3",
        "title": "x: y",
    }


def test_runner_from_environ(tmp_path: Path) -> None:
    runner = github.Runner.from_environ(
        {"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "o"), "GITHUB_WORKSPACE": "/w"}
    )
    assert runner.on_github and runner.output == tmp_path / "o" and runner.summary is None
    assert not github.Runner.from_environ({}).on_github


def test_paths_are_shown_relative_to_the_workspace(tmp_path: Path) -> None:
    runner = github.Runner(True, None, None, tmp_path)
    assert github.workspace_relative(tmp_path / "svc" / "pyproject.toml", runner) == (
        "svc/pyproject.toml"
    )
