"""``pyrelease ci build`` (the Action's command) in a uv workspace, run as the Action
runs it: in ``working-directory``, with the environment GitHub gives a step.

``working-directory`` is either a member (its own release, the root's ``uv.lock``)
or the workspace root with a release name. The example's packages are fetched from
the package index at build time, as in tests/test_workspace.py.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ci_helpers import ci_build, read_outputs, step_env
from helpers import REPO, copy_project
from pyrelease.assemble.runtime import host_triple

pytestmark = pytest.mark.e2e

TRIPLE = host_triple()


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose ``services/`` folder is the example workspace."""
    repo = tmp_path_factory.mktemp("ci-uvws")
    project = copy_project(REPO / "examples" / "workspace", repo / "services")
    if not (project / "uv.lock").exists():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "lock", "--quiet"], cwd=project, check=True, timeout=600)
    return repo


def _lib(artifact: Path) -> set[str]:
    with tarfile.open(artifact) as tar:
        return {
            Path(n).parts[1].partition("-")[0]
            for n in tar.getnames()
            if len(Path(n).parts) > 1 and Path(n).parts[0] == "lib"
        }


def _check(outputs: dict[str, str], where: Path, name: str, version: str) -> Path:
    artifact = Path(outputs["artifact"])
    assert artifact == where / "_build" / "prod" / f"{name}-{version}-{TRIPLE}.tar.xz"
    assert outputs["name"] == name and outputs["version"] == version
    assert outputs["artifact-name"] == f"{name}-{version}-{TRIPLE}"
    assert outputs["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    return artifact


def test_working_directory_at_a_member_builds_the_member(checkout: Path, tmp_path: Path) -> None:
    worker = checkout / "services" / "apps" / "worker"
    env = step_env(tmp_path / "step", checkout)
    result = ci_build("", "--upload-to", "artifact", cwd=worker, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    artifact = _check(read_outputs(Path(env["GITHUB_OUTPUT"])), worker, "worker", "0.2.0")
    assert _lib(artifact) == {"core", "worker", "idna"}


def test_working_directory_at_the_root_with_a_release_name(checkout: Path, tmp_path: Path) -> None:
    root = checkout / "services"
    env = step_env(tmp_path / "step", checkout)
    result = ci_build("web_only", "--upload-to", "artifact", cwd=root, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    artifact = _check(read_outputs(Path(env["GITHUB_OUTPUT"])), root, "web_only", "0.3.0")
    assert _lib(artifact) == {"core", "web", "jinja2", "markupsafe"}  # nothing of worker's
    assert "web_only" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
