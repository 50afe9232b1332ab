"""actionlint and zizmor on action.yml and every workflow of the repository.

actionlint checks workflows only; it checks action.yml's inputs when a workflow
uses it (release-demo.yml does, with ``uses: ./``), and its steps here by
turning the action into a reusable workflow with the same inputs and steps, so
its expressions, the outputs it reads from setup-python and its bash scripts
(through shellcheck) are checked too. zizmor audits the action and the
workflows for security problems (injection, unpinned actions, credentials).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import REPO

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def tool(name: str) -> str:
    """The linter installed with the dev extras (beside this Python), else on PATH."""
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    assert found, f"{name} is not installed: run ./scripts/setup (it is in the dev extras)"
    return found


def actionlint(*files: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(
        [tool("actionlint"), "-no-color", "-shellcheck", tool("shellcheck"), "-pyflakes", "",
         *map(str, files)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def action_as_workflow(action: Path) -> dict:
    """A reusable workflow with the action's inputs and steps, for actionlint."""
    spec = yaml.safe_load(action.read_text())
    inputs = {}
    for name, meta in spec["inputs"].items():
        inputs[name] = {"type": "string", "required": False, "description": meta["description"]}
        default = str(meta.get("default", ""))
        if "${{" not in default:  # expressions are not allowed in a workflow_call default
            inputs[name]["default"] = default
    return {
        "name": "action.yml as a workflow",
        "on": {"workflow_call": {"inputs": inputs}},
        "permissions": {"contents": "read"},
        "jobs": {"action": {"runs-on": "ubuntu-24.04", "steps": spec["runs"]["steps"]}},
    }


def test_the_workflows_exist() -> None:
    assert {w.name for w in WORKFLOWS} >= {"ci.yml", "release-demo.yml"}


def test_actionlint_on_every_workflow() -> None:
    result = actionlint(*WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_on_the_actions_steps(tmp_path: Path) -> None:
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "action.yml").write_text(yaml.safe_dump(action_as_workflow(REPO / "action.yml")))
    result = actionlint(workflows / "action.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_and_shellcheck_do_find_problems(tmp_path: Path) -> None:
    """The lint above is live: an injected expression and an unquoted variable fail."""
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    bad = action_as_workflow(REPO / "action.yml")
    steps = bad["jobs"]["action"]["steps"]
    steps.append({"shell": "bash", "run": 'echo "${{ github.event.pull_request.title }}"'})
    steps.append({"shell": "bash", "run": "cp $RUNNER_TEMP/a b"})
    (workflows / "bad.yml").write_text(yaml.safe_dump(bad))
    result = actionlint(workflows / "bad.yml", cwd=tmp_path)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout
    assert "SC2086" in result.stdout


@pytest.mark.parametrize("target", ["action.yml", ".github/workflows"])
def test_zizmor_finds_nothing(target: str) -> None:
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--color=never", target],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout


def test_zizmor_does_find_an_unpinned_action(tmp_path: Path) -> None:
    text = (REPO / "action.yml").read_text()
    sha = "5fda3b95a4ea91299a34e894583c3862153e4b97 # v7.0.0"
    assert sha in text
    (tmp_path / "action.yml").write_text(text.replace(sha, "v7"))
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--no-progress", "--color=never", "action.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode != 0
    assert "unpinned-uses" in result.stdout
