"""``release-deploy`` installs and runs on a server with nothing but a plain Python.

For each of CPython 3.12 and 3.13 (found under pyenv): a fresh venv, the
install documented in docs/deploy.md for a server without a package index
(``pip download`` of this checkout's wheel into a wheelhouse, then
``pip install --no-index --find-links``), then ``release-deploy --help`` and a
push and pull through a folder store with the installed command alone.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy_helpers import build_info, make_tarball

pytestmark = pytest.mark.e2e

REPO = Path(__file__).parents[1]


def _python(minor: str) -> str | None:
    found = sorted(glob.glob(f"/root/.pyenv/versions/3.{minor}.*/bin/python3.{minor}"))
    return found[-1] if found else None


def _run(*args: object, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pyrelease's wheel, built from this checkout."""
    dist = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", dist, REPO)
    (found,) = dist.glob("pyrelease-*.whl")
    return found


@pytest.mark.parametrize("minor", ["12", "13"])
def test_release_deploy_installs_offline_and_pulls(minor: str, wheel: Path, tmp_path: Path) -> None:
    python = _python(minor)
    if python is None:
        pytest.skip(f"no CPython 3.{minor} under pyenv")
    venv = tmp_path / "release-deploy"
    _run(python, "-m", "venv", venv)
    pip = venv / "bin" / "pip"
    # What a machine with index access does for the server: a wheelhouse for its Python.
    wheelhouse = tmp_path / "wheelhouse"
    _run(pip, "download", "--quiet", "-d", wheelhouse, wheel)
    # The server: no index at all.
    _run(pip, "install", "--quiet", "--no-index", "--find-links", wheelhouse, "pyrelease")

    command = venv / "bin" / "release-deploy"
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        "PIP_NO_INDEX": "1",
    }
    assert "Usage: release-deploy" in _run(command, "--help", env=env)
    assert f"Python 3.{minor}" in _run(venv / "bin" / "python", "--version", env=env)

    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    tarball = make_tarball(tmp_path / "demo-1.0.0.tar.gz", build_info(version="1.0.0"), fast=True)
    assert "pushed demo 1.0.0" in _run(command, "push", tarball, "--to", store, env=env)
    out = _run(command, "pull", "--from", f"file://{store}", "--root", root, env=env)
    assert "pulled demo 1.0.0" in out and "now current" in out
    assert os.readlink(root / "current") == "releases/1.0.0"
    assert (root / "current" / "bin" / "demo").is_file()
    listed = _run(command, "list", "--root", root, env=env)
    assert "* 1.0.0  (current)" in listed
