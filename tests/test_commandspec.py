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


# -- start.command: when the node may start the command before it boots ----------------

COMMAND = {"argv": ["gunicorn", "app:wsgi", "--bind", "127.0.0.1:${PORT}"],
           "ready": "http://127.0.0.1:${PORT}/", "ready_timeout": 60.0}  # fmt: skip
SETTINGS = {"runtime_config": False, "config_providers": [], "reboot_system_after_config": False}


def boot_manifest(*apps: dict, ready: str = COMMAND["ready"], preload: tuple = ()) -> dict:
    libs = [{"name": "web", "mode": "permanent", "start": None}, *apps]
    command = {"name": "command:gunicorn", "mode": "permanent",
               "start": "pyrelease.node.commandapp:start"}  # fmt: skip
    return {"applications": [*libs, command], "preload": list(preload),
            "commands": {"command:gunicorn": {**COMMAND, "ready": ready}}}  # fmt: skip


def test_a_command_first_to_start_with_nothing_changing_it_is_started_early() -> None:
    from pyrelease.commandspec import early_start

    plan = early_start(boot_manifest({"name": "lib", "mode": "load", "start": "lib:go"}), SETTINGS)
    assert plan == {"format": 1, "app": "command:gunicorn", "argv": COMMAND["argv"],
                    "ready": COMMAND["ready"], "fork": True}  # fmt: skip
    # A program that sets its title from the command line's place in memory gets a new
    # interpreter: a fork of the node has neither where it looks.
    titled = early_start(boot_manifest(), SETTINGS, ["gunicorn", "setproctitle"])
    assert titled is not None and titled["fork"] is False
    providers = {**SETTINGS, "config_providers": [{"provider": "toml", "args": {"path": "x"}},
                                                  {"provider": "env", "args": {}}]}  # fmt: skip
    assert early_start(boot_manifest(), providers) is not None  # the built-in ones only read


@pytest.mark.parametrize(
    ("start", "settings"),
    [
        (boot_manifest({"name": "api", "mode": "permanent", "start": "api:start"}), SETTINGS),
        (boot_manifest({"name": "api", "mode": "temporary", "start": "api:start"}), SETTINGS),
        (boot_manifest(ready="notify"), SETTINGS),
        (boot_manifest(preload=("web.settings",)), SETTINGS),
        (boot_manifest(), {**SETTINGS, "runtime_config": True}),
        (boot_manifest(), {**SETTINGS, "reboot_system_after_config": True}),
        (boot_manifest(), {**SETTINGS, "config_providers": [{"provider": "vault:load"}]}),
        ({"applications": [{"name": "web", "mode": "permanent", "start": "web:start"}],
          "preload": [], "commands": {}}, SETTINGS),
    ],
    ids=["in-process app first", "temporary app first", "notify", "preload", "runtime.py",
         "reboot", "own provider", "no command"],
)  # fmt: skip
def test_anything_the_boot_might_change_the_command_by_keeps_it_for_later(
    start: dict, settings: dict
) -> None:
    from pyrelease.commandspec import early_start

    assert early_start(start, settings) is None


@pytest.mark.parametrize(
    "text",
    ["plain", "${PORT}", "a${PORT}b${HOST}c", "${MISSING}", "x${EMPTY}", "${MISSING:-8000}",
     "${EMPTY:-d}", "${PORT:-}",
     "$PORT", "${", "${}", "${1X}", "${PORT", "${PORT:-x", "${PORT:x}", "${PORT-x}", "$${PORT}",
     "${${PORT}}", "${PORT:-a}b}", "${PORT:-{x}", "${_a1}", "${ÉTÉ}", "x${PORT:-\n}y"],
)  # fmt: skip
def test_variables_expand_as_the_pattern_says(text: str) -> None:
    """The node expands ``${VAR}`` without ``re`` (boot time): same result as the pattern."""
    import re

    from pyrelease.node.cmdproc import CommandFailed, expand

    environ = {"PORT": "8080", "HOST": "h", "EMPTY": "", "_a1": "u"}

    def one(match: re.Match[str]) -> str:
        value = environ.get(match[1], "")
        if value or match[2] is not None:
            return value or match[2]
        raise LookupError(match[1])

    pattern = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
    try:
        wanted: str | None = pattern.sub(one, text)
    except LookupError:
        wanted = None
    if wanted is None:
        with pytest.raises(CommandFailed, match=r"uses \$\{\w+\} but \w+ is not set"):
            expand(text, environ, "command x")
    else:
        assert expand(text, environ, "command x") == wanted


def test_an_unset_variable_is_named_with_the_fix() -> None:
    from pyrelease.node.cmdproc import CommandFailed, expand

    with pytest.raises(CommandFailed) as failed:
        expand("127.0.0.1:${PORT}", {}, "command gunicorn app")
    assert str(failed.value) == (
        "command gunicorn app uses ${PORT} but PORT is not set; set it in the environment or "
        "env.sh, or give a default: ${PORT:-VALUE}"
    )
