"""Starting and stopping the deployed release through its own ``bin/NAME``.

``--restart`` stops the running old version with *its* ``bin/NAME stop``,
starts the new one with ``bin/NAME daemon`` (which returns once the node is
ready, or fails), and when the new one fails puts the old one back.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from pyrelease.deploy.errors import DeployError
from pyrelease.deploy.layout import Root

DEFAULT_TIMEOUT = 60


def release_name(root: Root, version: str) -> str:
    """The release's name, from its ``build_info.json``."""
    path = root.release_dir(version) / "releases" / version / "build_info.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["name"])
    except (OSError, ValueError, KeyError):
        raise DeployError(
            f"{root.release_dir(version)} holds no readable build info: pull that version again"
        ) from None


def script(root: Root, version: str) -> Path:
    """``ROOT/releases/VSN/bin/NAME``."""
    return root.release_dir(version) / "bin" / release_name(root, version)


def _run(
    cmd: Path, arg: str, environ: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [str(cmd), arg],
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess([str(cmd), arg], 1, "", f"{arg} timed out")
    except OSError as exc:
        return subprocess.CompletedProcess([str(cmd), arg], 1, "", str(exc))


def is_running(root: Root, version: str, environ: Mapping[str, str]) -> bool:
    """Whether the node of ``version`` answers ``bin/NAME pid``."""
    return _run(script(root, version), "pid", environ, 30).returncode == 0


def stop(root: Root, version: str, environ: Mapping[str, str], say: Callable[[str], None]) -> None:
    """Stop the running node of ``version`` (a no-op when it is not running)."""
    if not is_running(root, version, environ):
        return
    say(f"stopping {version}")
    result = _run(script(root, version), "stop", environ, 120)
    if result.returncode != 0:
        raise DeployError(
            f"could not stop the running {version}: {_last_line(result)}; stop it by hand "
            f"with {script(root, version)} stop"
        )


def daemon(
    root: Root, version: str, environ: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``bin/NAME daemon``: returns once the node is ready (status 0) or failed."""
    env = {**environ, "RELEASE_DAEMON_TIMEOUT": f"{timeout:g}"}
    return _run(script(root, version), "daemon", env, timeout + 60)


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[0].removeprefix("ERROR: ") if lines else f"exit status {result.returncode}"


def start_daemon(
    root: Root, version: str, before: tuple[str | None, str | None],
    environ: Mapping[str, str], timeout: float, say: Callable[[str], None], restart: bool,
) -> None:  # fmt: skip
    """Start ``version`` (now current) as a daemon; with ``restart`` stop the old one first.

    ``before`` is what ``current`` and ``previous`` were before the switch. When
    the new version does not become ready, they are put back, the old version is
    started again if it was running, and :class:`DeployError` says so.
    """
    old, old_previous = before
    was_running = False
    if restart and old is not None and old != version:
        was_running = is_running(root, old, environ)
        stop(root, old, environ, say)
    say(f"starting {version}")
    result = daemon(root, version, environ, timeout)
    if result.returncode == 0:
        say(f"{version} is running")
        return
    reason = _last_line(result)
    if old is None or old == version:
        raise DeployError(
            f"{version} did not start ({reason}): see its log in {_log(root, version)}"
        )
    root.switch_back(old, old_previous)
    back = ""
    if was_running:
        again = daemon(root, old, environ, timeout)
        back = (
            " and running" if again.returncode == 0 else f" but did not start ({_last_line(again)})"
        )
    raise DeployError(
        f"{version} did not start ({reason}), so {old} is current again{back}: "
        f"see the log in {_log(root, version)}"
    )


def _log(root: Root, version: str) -> Path:
    return root.release_dir(version) / "tmp" / "log"


def exec_start(root: Root, version: str, environ: Mapping[str, str]) -> None:
    """Replace this process with ``bin/NAME start`` (foreground, for service managers)."""
    cmd = script(root, version)
    os.execve(cmd, [str(cmd), "start"], dict(environ))
