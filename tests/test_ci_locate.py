"""Configuration errors point at the line of the offending key in pyproject.toml.

The problems come from the real config loader, so a change in how it words an
error that the locator no longer understands fails here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrelease.ci.locate import find_line, key_lines, problem_line
from pyrelease.config import load_project, select_release
from pyrelease.errors import ConfigError
from pyrelease.steps import validate

PYPROJECT = """\
[project]
name = "svc"
version = "1.0.0"
requires-python = ">=3.11"
description = '''
[tool.pyrelease.releases.fake]
steps = ["not a key"]
'''

[tool.pyrelease]
mod = "svc.app:start"
default_release = "web"

[tool.pyrelease.releases.web]
include_executables_for = [
  "unix",
  "windows",
]
applications = { svc = "permanent", extra = "load" }
{body}
[tool.pyrelease.releases."worker-2"]
strip = "yes"
"""


def problems(tmp_path: Path, body: str, release: str = "web") -> tuple[str, list[str]]:
    text = PYPROJECT.replace("{body}", body)
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        select_release(load_project(tmp_path), release)
    return text, info.value.problems


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(needle))


def test_a_bad_value_points_at_its_key(tmp_path: Path) -> None:
    text, found = problems(tmp_path, "quiet = 3\nstrip = { keep = ['tests', 'bogus'] }\n")
    assert len(found) == 2
    lines = {problem_line(p, text) for p in found}
    assert lines == {line_of(text, "quiet = 3"), line_of(text, "strip = {")}


def test_an_unknown_option_points_at_its_key(tmp_path: Path) -> None:
    text, found = problems(tmp_path, "stepz = ['assemble']\n")
    assert "did you mean `steps`" in found[0]
    assert problem_line(found[0], text) == line_of(text, "stepz")


def test_keys_of_other_tables_and_multiline_values_do_not_confuse_it(tmp_path: Path) -> None:
    # `steps` appears inside a multi-line string above and in another release below.
    text, found = problems(tmp_path, "steps = 'assemble'\n")
    assert problem_line(found[0], text) == line_of(text, "steps = 'assemble'")


def test_a_quoted_release_name(tmp_path: Path) -> None:
    text, found = problems(tmp_path, "", release="worker-2")
    assert problem_line(found[0], text) == line_of(text, 'strip = "yes"')


def test_tool_level_problems(tmp_path: Path) -> None:
    text = PYPROJECT.replace("{body}", "").replace(
        'default_release = "web"', 'default_release = "wbe"\nmods = 1'
    )
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    found = {p: problem_line(p, text) for p in info.value.problems}
    assert sorted(found.values()) == [line_of(text, "default_release"), line_of(text, "mods")]


def test_invalid_toml_uses_the_parsers_position(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\nversion = \n')
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert problem_line(info.value.problems[0], "") == 3


def test_step_rules_point_at_the_release_steps(tmp_path: Path) -> None:
    text = PYPROJECT.replace("{body}", 'steps = ["tar", "assemble"]\n')
    with pytest.raises(ConfigError) as info:
        validate(["tar", "assemble"])
    assert problem_line(info.value.problems[0], text, release="web") == line_of(
        text, 'steps = ["tar"'
    )


def test_a_problem_naming_no_key_has_no_line() -> None:
    assert problem_line("something else went wrong", PYPROJECT) is None


def test_key_lines_reads_dotted_keys_and_inline_tables() -> None:
    text = '[tool]\npyrelease.releases.web.quiet = true\n[a."b.c"]\nd = { e = 1 }\n'
    lines = key_lines(text)
    assert lines[("tool", "pyrelease", "releases", "web", "quiet")] == 2
    assert lines[("a", "b.c", "d")] == 4
    assert find_line(text, ("a", "b.c", "d", "e")) == 4
    assert find_line(text, ("nothing",)) is None
