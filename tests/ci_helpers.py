"""Helpers for the CI tests: the step environment GitHub gives, and reading what
a step wrote back the way the runner reads it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path


def read_outputs(path: Path) -> dict[str, str]:
    """Parse a ``GITHUB_OUTPUT`` file as the runner does (``k=v`` and ``k<<DELIM`` forms)."""
    outputs: dict[str, str] = {}
    lines = path.read_text(encoding="utf-8").split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line:
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc >= 0 and (eq < 0 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2 :]
            value = []
            while lines[i] != delimiter:
                value.append(lines[i])
                i += 1
            i += 1
            outputs[name] = "\n".join(value)
        else:
            outputs[line[:eq]] = line[eq + 1 :]
    return outputs


def step_env(tmp: Path, workspace: Path, **extra: str) -> dict[str, str]:
    """The variables GitHub gives a step, pointed at fresh files under ``tmp``."""
    tmp.mkdir(parents=True, exist_ok=True)
    files = {}
    for key in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH"):
        f = tmp / key.lower()
        f.write_text("")
        files[key] = str(f)
    (tmp / "runner-temp").mkdir(exist_ok=True)
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    return {
        **base,
        **files,
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_REPOSITORY": "octo-org/service",
        "GITHUB_SERVER_URL": "https://github.com",
        "RUNNER_TEMP": str(tmp / "runner-temp"),
        "RUNNER_OS": "Linux",
        "RUNNER_ARCH": {"x86_64": "X64", "aarch64": "ARM64"}.get(os.uname().machine, "X64"),
        **extra,
    }


def ci_build(
    *args: str, cwd: Path, env: dict[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run the real ``pyrelease ci build``."""
    return subprocess.run(
        [sys.executable, "-m", "pyrelease", "ci", "build", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


ANNOTATION = re.compile(r"^::(error|warning|notice)(?: ([^:]*))?::(.*)$", re.MULTILINE)


def annotations(stdout: str) -> list[dict[str, str]]:
    """The workflow-command annotations in a step's output, properties unescaped."""

    def unescape(text: str) -> str:
        for code, char in (("%0A", "\n"), ("%0D", "\r"), ("%3A", ":"), ("%2C", ","), ("%25", "%")):
            text = text.replace(code, char)
        return text

    found = []
    for level, props, message in ANNOTATION.findall(stdout):
        item = {"level": level, "message": unescape(message)}
        for prop in filter(None, (props or "").split(",")):
            key, _, value = prop.partition("=")
            item[key] = unescape(value)
        found.append(item)
    return found
