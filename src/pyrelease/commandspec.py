"""Validation of a release's command application (``command``, ``ready``, ``ready_timeout``,
``command_mode``), as set per release or for the whole project in ``[tool.pyrelease]``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

COMMAND_KEYS = ("command", "ready", "ready_timeout", "command_mode")
COMMAND_MODES = ("permanent", "transient", "temporary")
_VAR = r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}"
_HOSTPORT = rf"(?:\[[0-9A-Fa-f:.]+\]|[\w.-]+|{_VAR}):(?:\d+|{_VAR})"
_READY = re.compile(rf"started|notify|tcp://{_HOSTPORT}|https?://(?:{_HOSTPORT}|[\w.-]+)(?:/\S*)?")


def check_command(value: Any) -> str | None:
    """The problem with a ``command`` value, or None."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        return 'must be a non-empty list of strings, e.g. ["gunicorn", "mysite.wsgi"]'
    if value[0] == "-m" and len(value) < 2:
        return 'names no module after "-m"'
    return None


def check_ready(value: Any) -> str | None:
    """The problem with a ``ready`` value, or None."""
    if isinstance(value, str) and _READY.fullmatch(value):
        return None
    return (
        'must be "started", "notify", "tcp://HOST:PORT" or "http://HOST:PORT/PATH" '
        "(${VAR} and ${VAR:-default} allowed)"
    )


def check_timeout(value: Any) -> str | None:
    """The problem with a ``ready_timeout`` value, or None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return "must be a positive number of seconds"
    return None


def check_mode(value: Any) -> str | None:
    """The problem with a ``command_mode`` value, or None."""
    if value in COMMAND_MODES:
        return None
    return f"must be one of {', '.join(COMMAND_MODES)}"


CHECKS = {
    "command": check_command,
    "ready": check_ready,
    "ready_timeout": check_timeout,
    "command_mode": check_mode,
}


def manifest_entry(release_name: str, table: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The application name and the settings the node reads (``commands`` in ``start.json``)."""
    argv = list(table["command"])
    program = argv[1] if argv[0] == "-m" else argv[0].rsplit("/", 1)[-1]
    return f"command:{program}", {
        "argv": argv,
        "ready": table.get("ready", "started"),
        "ready_timeout": float(table.get("ready_timeout", 60)),
    }


def check_program(table: dict[str, Any], root: Any, vsn: str, modules: set[str]) -> str | None:
    """The problem with the program a built release's ``command`` names, or None.

    ``root`` is the release being assembled (``releases/VSN/bin/`` written),
    ``modules`` every module its ``lib/`` holds. Programs given through a
    ``${VAR}`` are checked at boot only.
    """
    import sys

    argv = table["command"]
    first = argv[1] if argv[0] == "-m" else argv[0]
    if "${" in first:
        return None
    if argv[0] == "-m":
        if first in modules or first.split(".")[0] in sys.stdlib_module_names:
            return None
        return f"`command` runs -m {first}, but no distribution of the release has that module"
    if "/" in first:
        if (root / first).is_file():
            return None
        return f"`command` runs {first}, which is not a file inside the release"
    scripts = root / "releases" / vsn / "bin"
    if first != "python" and (scripts / first).is_file():
        return None
    import difflib

    known = sorted(p.name for p in scripts.iterdir() if p.name != "python")
    close = difflib.get_close_matches(first, known, n=1)
    hint = (
        f"; did you mean `{close[0]}`?"
        if close
        else f" (console scripts: {', '.join(known) or 'none'})"
    )
    return f"`command` runs {first}, which is not a console script of the release{hint}"


COMMAND_START = "pyrelease.node.commandapp:start"
STARTED_MODES = ("permanent", "transient", "temporary")  # as the node's Controller
BUILTIN_PROVIDERS = ("toml", "json", "env")  # they read the environment, never change it


#: Distributions that set the process title from the command line's place in memory, which
#: a command forked from the node does not have where they look (see node/zygote.py).
TITLE_SETTERS = frozenset({"setproctitle"})


def early_start(
    start: dict[str, Any], settings: dict[str, Any], dists: Iterable[str] = ()
) -> dict[str, Any] | None:
    """``releases/VSN/start.command``: the command the node may start before it boots,
    or None when something the boot does could change it.

    ``start`` is the boot manifest (``start.json``), ``settings`` the boot
    settings (``boot.json``). The command must be the first application to
    start (no in-process application it might need), with no runtime
    configuration that could set its variables (``config/runtime.py``, a config
    provider of the project's own), nothing preloaded (imports run code),
    no ``reboot_system_after_config``, and a readiness check other than
    ``notify`` (whose socket the node makes at start).

    ``fork`` says whether a Python program may run in a fork of the node instead
    of a new interpreter: not when the release's distributions (``dists``,
    canonical names) include one of :data:`TITLE_SETTERS`.
    """
    started = [a for a in start["applications"] if a["mode"] in STARTED_MODES and a["start"]]
    if not started or started[0]["start"] != COMMAND_START:
        return None
    name = started[0]["name"]
    command = start["commands"].get(name)
    if command is None or command["ready"] == "notify" or start["preload"]:
        return None
    if settings["runtime_config"] or settings["reboot_system_after_config"]:
        return None
    if any(p["provider"] not in BUILTIN_PROVIDERS for p in settings["config_providers"]):
        return None
    from pyrelease.node.appconfig import normalize_app

    fork = not TITLE_SETTERS & set(dists)
    return {"format": 1, "app": normalize_app(name), "argv": command["argv"],
            "ready": command["ready"], "fork": fork}  # fmt: skip
