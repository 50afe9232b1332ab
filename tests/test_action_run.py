"""Execute action.yml itself: its ``run:`` steps, with the inputs and the ``github``
and ``runner`` values GitHub would substitute, run with bash in order, on the
example project; so the YAML and ``pyrelease ci build`` cannot drift apart.

The third-party ``uses:`` steps (actions/setup-python, actions/cache,
actions/upload-artifact, actions/attest-build-provenance) are skipped: they are
downloaded from GitHub, which is not reachable here. For setup-python the test
gives the outputs it would have produced (the path and version of this machine's
Python); the others' outputs are absent, as they are when GitHub skips a step.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import sys
from pathlib import Path

import pytest

from action_runner import ActionRun, Expressions, run_action
from ci_helpers import annotations
from helpers import DEMO, REPO, copy_project, ensure_demo_lock
from nixhelpers import NIX_CONFIG, SKIP_REASON, STUB, copy_tracked, have_nix, stub_usable
from pyrelease.assemble.runtime import host_triple

pytestmark = pytest.mark.e2e

ACTION = REPO / "action.yml"
THIRD_PARTY = [
    "Set up Python",
    "Restore the build cache",
    "Attest build provenance",
    "Upload the workflow artifact",
]


@pytest.fixture(scope="module")
def runner_temp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One RUNNER_TEMP for the module's runs (the install step reuses its venv)."""
    return tmp_path_factory.mktemp("runner-temp")


def run(inputs: dict[str, str], workspace: Path, runner_temp: Path) -> ActionRun:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    base = {k: v for k, v in base.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    return run_action(
        ACTION,
        inputs,
        workspace=workspace,
        runner_temp=runner_temp,
        base_env=base,
        github={
            "token": "stand-in-token",
            "repository": "octo-org/service",
            "server_url": "https://github.com",
        },
        # What actions/setup-python would output with update-environment: false.
        stand_in={
            "python": {
                "python-path": sys._base_executable,
                "python-version": platform.python_version(),
            }
        },
    )


def test_the_action_builds_checksums_and_pushes(tmp_path: Path, runner_temp: Path) -> None:
    workspace = tmp_path / "ws"
    project = copy_project(DEMO, workspace / "services" / "demo")
    ensure_demo_lock(project)
    store = tmp_path / "store"
    result = run(
        {"working-directory": "services/demo", "upload-to": f"file://{store}", "cache": "true"},
        workspace,
        runner_temp,
    )
    assert result.failed is None, result.failed.stdout + result.failed.stderr
    assert [s.name for s in result.ran] == ["Install pyrelease", "Build the release"]
    assert result.skipped == THIRD_PARTY

    out = result.outputs
    triple = host_triple()
    artifact = Path(out["artifact"])
    assert artifact == project / "_build" / "prod" / f"demo-0.1.0-{triple}.tar.xz"
    assert out["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert Path(out["sha256-file"]).read_text() == f"{out['sha256']}  {artifact.name}\n"
    assert (out["version"], out["target"], out["name"]) == ("0.1.0", triple, "demo")
    obj = store / "demo" / "0.1.0" / artifact.name
    assert out["url"] == f"file://{obj}"
    assert obj.read_bytes() == artifact.read_bytes()
    assert (
        json.loads((store / "demo" / "index.json").read_text())["versions"][0]["sha256"]
        == (out["sha256"])
    )
    assert f"### Release demo 0.1.0 ({triple})" in result.summary
    # The skipped third-party steps: which would run, and with what.
    setup = result.uses["Set up Python"]
    assert setup == (
        True,
        {
            "python-version": "",
            "python-version-file": "services/demo/pyproject.toml",
            "update-environment": "false",
        },
    )
    would_cache, cache = result.uses["Restore the build cache"]
    assert would_cache and "services/demo/_build/prod/venv" in cache["path"].splitlines()
    arch = {"x86_64": "X64", "aarch64": "ARM64"}[os.uname().machine]
    key = rf"pyrelease-Linux-{arch}-py{re.escape(platform.python_version())}-prod-[0-9a-f]{{64}}"
    assert re.fullmatch(key, cache["key"]), cache["key"]
    assert not result.uses["Upload the workflow artifact"][0]
    assert not result.uses["Attest build provenance"][0]

    # Again with the defaults' upload (a workflow artifact) and an attestation: the
    # build is up to date; the skipped steps would get the files the build wrote.
    again = run(
        {"working-directory": "services/demo", "attest": "true", "retention-days": "3"},
        workspace,
        runner_temp,
    )
    assert again.failed is None, again.failed.stdout + again.failed.stderr
    assert again.outputs["artifact"] == out["artifact"]
    assert again.outputs["sha256"] == out["sha256"]
    assert again.outputs["url"] == ""  # actions/upload-artifact's artifact-url on GitHub
    assert again.uses["Attest build provenance"] == (True, {"subject-path": out["artifact"]})
    would_upload, upload = again.uses["Upload the workflow artifact"]
    assert would_upload
    assert upload["name"] == artifact.name.removesuffix(".tar.xz")
    assert upload["path"].split() == [out["artifact"], out["sha256-file"]]
    assert upload["retention-days"] == "3"
    assert "| Uploaded to | workflow artifact demo-0.1.0-" in again.summary
    # pyrelease came from the action's own checkout, into RUNNER_TEMP.
    assert (runner_temp / "pyrelease-venv" / "bin" / "pyrelease").is_file()


def test_a_configuration_error_fails_the_step_with_an_annotation(
    tmp_path: Path, runner_temp: Path
) -> None:
    workspace = tmp_path / "ws"
    project = copy_project(DEMO, workspace / "api")
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace('default_release = "demo"', 'default_release = "dmeo"')
    pyproject.write_text(text)
    line = text.splitlines().index('default_release = "dmeo"') + 1
    result = run({"working-directory": "api", "release": "demo"}, workspace, runner_temp)
    assert result.failed is not None and result.failed.name == "Build the release"
    [found] = annotations(result.failed.stdout)
    assert (found["file"], found["line"]) == ("api/pyproject.toml", str(line))
    assert "did you mean `demo`?" in found["message"]
    assert "Traceback" not in result.failed.stderr
    assert result.outputs == {}


@pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON)
def test_nix_true_with_nix_args_builds_the_flake(
    tmp_path: Path, runner_temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The repository's own flake through action.yml: nix-args reaches `nix build`
    (offline, the stub nixpkgs, a throwaway store, as tests/test_nix.py builds)."""
    monkeypatch.setenv("NIX_CONFIG", NIX_CONFIG)
    workspace = copy_tracked(tmp_path / "ws")
    store = tmp_path / "nix store"  # a space: the input is split as a shell would
    nix_args = f"--offline --store '{store}' --override-input nixpkgs 'path:{STUB}'"
    result = run(
        {"release": "demo", "nix": "true", "nix-args": nix_args, "upload-to": "none"},
        workspace,
        runner_temp,
    )
    assert result.failed is None, result.failed.stdout + result.failed.stderr[-5000:]
    out = result.outputs
    artifact = Path(out["artifact"])
    assert artifact == workspace / "_build" / "prod" / f"demo-0.1.0-{host_triple()}.tar.xz"
    assert out["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert list((store / "nix" / "store").glob("*-demo-0.1.0/bin/demo"))


def test_no_expression_is_interpolated_into_a_script() -> None:
    import yaml

    steps = yaml.safe_load(ACTION.read_text())["runs"]["steps"]
    scripts = [s["run"] for s in steps if "run" in s]
    assert scripts and not [s for s in scripts if "${{" in s]


def test_every_third_party_action_is_pinned_by_commit() -> None:
    uses = re.findall(r"uses: (\S+)(.*)", ACTION.read_text())
    assert len(uses) == 4
    for ref, comment in uses:
        assert re.fullmatch(r"[\w-]+/[\w-]+@[0-9a-f]{40}", ref), ref
        assert re.fullmatch(r" # v\d+\.\d+\.\d+", comment), (ref, comment)


def test_the_expression_evaluator() -> None:
    e = Expressions({"inputs": {"a": "", "b": "x", "wd": "svc"}, "steps": {"s": {"outputs": {}}}})
    assert e.evaluate("inputs.a || inputs.b") == "x"
    assert e.evaluate("inputs.a == '' && format('{0}/pyproject.toml', inputs.wd) || ''") == (
        "svc/pyproject.toml"
    )
    assert e.evaluate("inputs.b == 'X'") is True  # GitHub compares strings ignoring case
    assert e.evaluate("steps.s.outputs.missing") == ""
    with pytest.raises(KeyError):
        e.evaluate("inputs.typo")
    with pytest.raises(KeyError):
        e.evaluate("steps.nosuchstep.outputs.x")
