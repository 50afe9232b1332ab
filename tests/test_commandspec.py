"""`command`, `ready`, `ready_timeout` and `command_mode`: validated with the release,
all problems at once; `[tool.pyrelease]` values apply to every release."""

from __future__ import annotations

import pytest

from pyrelease.config import validate_release
from pyrelease.errors import ConfigError


def test_a_command_release_keeps_its_settings() -> None:
    table = {"command": ["gunicorn", "app:wsgi", "--bind", "127.0.0.1:${PORT:-8000}"],
             "ready": "tcp://127.0.0.1:${PORT:-8000}", "ready_timeout": 30}  # fmt: skip
    assert validate_release("web", table).command == table


def test_project_wide_settings_apply_unless_the_release_sets_them() -> None:
    defaults = {"command": ["celery", "worker"], "ready": "started"}
    assert validate_release("w", {}, defaults).command == defaults
    own = validate_release("w", {"command": ["-m", "http.server"]}, defaults).command
    assert own == {"command": ["-m", "http.server"], "ready": "started"}


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({"command": "gunicorn app"}, "`command` must be a non-empty list of strings"),
        ({"command": []}, "`command` must be a non-empty list of strings"),
        ({"command": ["-m"]}, 'names no module after "-m"'),
        ({"command": ["x"], "ready": "port 80"}, '`ready` must be "started", "notify"'),
        ({"command": ["x"], "ready": "tcp://localhost"}, "`ready` must be"),
        ({"command": ["x"], "ready_timeout": 0}, "`ready_timeout` must be a positive number"),
        ({"command": ["x"], "command_mode": "load"}, "`command_mode` must be one of"),
        ({"ready": "notify"}, "need a `command`"),
        ({"comand": ["x"]}, "did you mean `command`?"),
    ],
)
def test_refused_with_one_sentence(table: dict, problem: str) -> None:
    with pytest.raises(ConfigError) as info:
        validate_release("web", table)
    assert any(problem in p for p in info.value.problems), info.value.problems
