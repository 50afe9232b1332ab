"""Run a composite ``action.yml`` the way the GitHub runner does, as far as it can
be done here.

* ``${{ }}`` expressions are evaluated with the ``inputs``, ``github``, ``runner``
  and ``steps`` contexts GitHub would give (a small evaluator of the operators
  GitHub's expressions have: literals, ``==``, ``!=``, ``&&``, ``||``, ``!``,
  ``format()``); a reference the runner would not know (a typo in a step id or
  an undeclared input) is an error, not an empty string.
* ``run:`` steps run in order with ``bash --noprofile --norc -eo pipefail FILE``
  (GitHub's command for ``shell: bash``), in their ``working-directory``, each
  with fresh ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` files that are read back
  afterwards; ``GITHUB_ENV`` and ``GITHUB_PATH`` carry over to later steps.
* ``uses:`` steps (third-party actions such as actions/setup-python) are NOT run:
  they download code from GitHub. They are recorded as skipped, and the caller
  may give the outputs such a step would have produced (``stand_in``).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ci_helpers import read_outputs

_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||[()!,])|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<name>[A-Za-z_][\w-]*(?:\.[\w-]+|\[\d+\])*))"
)
_EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}", re.DOTALL)


def _tokens(text: str) -> list[tuple[str, str]]:
    found, pos = [], 0
    text = text.strip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(f"cannot read the expression {text!r} at {text[pos:]!r}")
        kind = m.lastgroup or ""
        found.append((kind, m.group(kind)))
        pos = m.end()
    return found


class Expressions:
    """Evaluate GitHub expressions against ``contexts`` (values are strings)."""

    def __init__(self, contexts: dict[str, Any]) -> None:
        self.contexts = contexts

    def evaluate(self, text: str) -> Any:
        self._toks, self._i = _tokens(text), 0
        value = self._or()
        if self._i != len(self._toks):
            raise ValueError(f"unexpected {self._toks[self._i][1]!r} in {text!r}")
        return value

    def substitute(self, text: Any) -> str:
        """``text`` with every ``${{ expr }}`` replaced by its value."""
        return _EXPR.sub(lambda m: _text(self.evaluate(m.group(1))), _text(text))

    def _peek(self) -> str | None:
        return self._toks[self._i][1] if self._i < len(self._toks) else None

    def _take(self) -> tuple[str, str]:
        tok = self._toks[self._i]
        self._i += 1
        return tok

    def _or(self) -> Any:
        value = self._and()
        while self._peek() == "||":
            self._take()
            right = self._and()
            value = value if _truthy(value) else right
        return value

    def _and(self) -> Any:
        value = self._compare()
        while self._peek() == "&&":
            self._take()
            right = self._compare()
            value = right if _truthy(value) else value
        return value

    def _compare(self) -> Any:
        value = self._unary()
        while self._peek() in ("==", "!="):
            op = self._take()[1]
            right = self._unary()
            same = _text(value).lower() == _text(right).lower()
            value = same if op == "==" else not same
        return value

    def _unary(self) -> Any:
        if self._peek() == "!":
            self._take()
            return not _truthy(self._unary())
        kind, tok = self._take()
        if tok == "(":
            value = self._or()
            assert self._take()[1] == ")"
            return value
        if kind == "str":
            return tok[1:-1].replace("''", "'")
        if kind == "num":
            return tok
        if tok in ("true", "false"):
            return tok == "true"
        if self._peek() == "(":
            return self._call(tok)
        return self._lookup(tok)

    def _call(self, name: str) -> Any:
        self._take()
        args = []
        while self._peek() != ")":
            args.append(self._or())
            if self._peek() == ",":
                self._take()
        self._take()
        if name == "hashFiles":
            # A stand-in for GitHub's own digest of the matched files: same files, same value.
            root = Path(self.contexts["github"]["workspace"])
            digest = hashlib.sha256()
            for pattern in args:
                for path in sorted(root.glob(pattern)):
                    digest.update(hashlib.sha256(path.read_bytes()).digest())
            return digest.hexdigest()
        if name == "format":
            return re.sub(r"\{(\d+)\}", lambda m: _text(args[int(m.group(1)) + 1]), args[0])
        raise ValueError(f"the function {name}() is not supported here")

    def _lookup(self, ref: str) -> Any:
        parts = ref.split(".")
        value: Any = self.contexts
        for i, part in enumerate(parts):
            if not isinstance(value, dict) or part not in value:
                if parts[0] == "steps" and i >= 2:
                    return ""  # a known step that set no such output (or was skipped)
                raise KeyError(f"{'.'.join(parts[: i + 1])} is not known (in {ref})")
            value = value[part]
        return value


def _truthy(value: Any) -> bool:
    return bool(value) and value != "false"


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@dataclass
class StepRun:
    name: str
    returncode: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str


@dataclass
class ActionRun:
    """What happened: the steps run and skipped, the action's outputs, whether it failed."""

    ran: list[StepRun] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # For each third-party step: would GitHub run it (its `if:`), and its `with:` values.
    uses: dict[str, tuple[bool, dict[str, str]]] = field(default_factory=dict)
    outputs: dict[str, str] = field(default_factory=dict)
    failed: StepRun | None = None

    @property
    def summary(self) -> str:
        return "".join(s.summary for s in self.ran)


def run_action(
    action: Path,
    inputs: dict[str, str],
    *,
    workspace: Path,
    runner_temp: Path,
    base_env: dict[str, str],
    github: dict[str, str],
    stand_in: dict[str, dict[str, str]] | None = None,
) -> ActionRun:
    """Run ``action`` (a composite action.yml) with ``inputs`` as the runner would."""
    spec = yaml.safe_load(action.read_text())
    assert spec["runs"]["using"] == "composite"
    declared = spec.get("inputs", {})
    unknown = set(inputs) - set(declared)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    runner = {
        "temp": str(runner_temp),
        "os": "Linux",
        "arch": {"x86_64": "X64", "aarch64": "ARM64"}.get(os.uname().machine, "X64"),
    }
    github = {"action_path": str(action.parent), "workspace": str(workspace), **github}
    steps_ctx: dict[str, dict[str, dict[str, str]]] = {
        s["id"]: {"outputs": {}} for s in spec["runs"]["steps"] if "id" in s
    }
    defaults = Expressions({"github": github, "runner": runner})
    values = {
        name: inputs.get(name, defaults.substitute(d.get("default", "")))
        for name, d in declared.items()
    }
    expr = Expressions({"inputs": values, "github": github, "runner": runner, "steps": steps_ctx})
    env_carry: dict[str, str] = {}
    path_carry: list[str] = []
    result = ActionRun()
    for number, step in enumerate(spec["runs"]["steps"]):
        name = step.get("name", f"step {number}")
        if "uses" in step:
            assert not step["uses"].startswith("./"), "local actions are not supported here"
            result.skipped.append(name)
            condition = step.get("if")
            would_run = condition is None or _truthy(expr.evaluate(_EXPR.sub(r"\1", condition)))
            given = {k: expr.substitute(v) for k, v in (step.get("with") or {}).items()}
            result.uses[name] = (would_run, given)
            if step.get("id") in (stand_in or {}):
                steps_ctx[step["id"]]["outputs"].update(stand_in[step["id"]])
            continue
        condition = step.get("if")
        if condition is not None and not _truthy(expr.evaluate(_EXPR.sub(r"\1", condition))):
            result.skipped.append(name)
            continue
        assert step.get("shell") == "bash", f"step {name}: only shell: bash is run here"
        files = runner_temp / f"_runner_file_commands_{number}"
        files.mkdir(parents=True, exist_ok=True)
        names = ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
        for key in names:
            (files / key).write_text("")
        env = {
            **base_env,
            **env_carry,
            "PATH": os.pathsep.join([*path_carry, base_env.get("PATH", "")]),
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_ACTION_PATH": github["action_path"],
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_REPOSITORY": github.get("repository", ""),
            "GITHUB_SERVER_URL": github.get("server_url", "https://github.com"),
            "RUNNER_TEMP": runner["temp"],
            "RUNNER_OS": runner["os"],
            "RUNNER_ARCH": runner["arch"],
            **{key: str(files / key) for key in names},
            **{k: expr.substitute(v) for k, v in (step.get("env") or {}).items()},
        }
        script = files / "script.sh"
        script.write_text(expr.substitute(step["run"]))
        cwd = workspace / expr.substitute(step.get("working-directory", "."))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
            stdin=subprocess.DEVNULL,
        )
        run = StepRun(
            name,
            proc.returncode,
            proc.stdout,
            proc.stderr,
            read_outputs(files / "GITHUB_OUTPUT"),
            (files / "GITHUB_STEP_SUMMARY").read_text(),
        )
        result.ran.append(run)
        if proc.returncode != 0:
            result.failed = run
            return result
        if "id" in step:
            steps_ctx[step["id"]]["outputs"].update(run.outputs)
        env_carry.update(read_outputs(files / "GITHUB_ENV"))
        path_carry = [
            *reversed((files / "GITHUB_PATH").read_text().split()),
            *path_carry,
        ]
    result.outputs = {
        name: expr.substitute(o["value"]) for name, o in (spec.get("outputs") or {}).items()
    }
    return result
