"""The deploy story with real releases: ``pyrelease build`` → ``release-deploy push``
→ ``pull`` → ``current/bin/demo start`` answers HTTP → a second version with
``pull --restart`` → ``rollback --restart`` → the first version answers again;
and a new version that fails to start puts the old one back.

The round trip runs once through every kind of store, each a real server on
127.0.0.1: a folder, an HTTP server (with a bearer token), moto's S3 server with
signature checking on (pushing with a read-write key, pulling with a read-only
one), and, because GitHub itself cannot be reached from here, the
``github_standin`` server that answers GitHub's release API paths in its place.
The releases are built once for the module and shared by all of them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from deploy_helpers import DEPLOY, deploy, store_server
from github_standin import READ_TOKEN, WRITE_TOKEN, GitHubStandIn
from helpers import (
    DEMO,
    base_env,
    copy_project,
    ensure_demo_lock,
    free_port,
    http_get,
    node,
    pyrelease,
    wait_http,
)
from s3_server import BUCKET, Moto, moto_s3

pytestmark = pytest.mark.e2e

BROKEN_RUNTIME = 'raise RuntimeError("this version is broken on purpose")\n'


@pytest.fixture(scope="module")
def tarballs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """demo 0.1.0 and 0.2.0, and 0.3.0 whose runtime config fails at boot."""
    project = copy_project(DEMO, tmp_path_factory.mktemp("deploy-build") / "demo")
    ensure_demo_lock(project)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(
            'applications = { demo-extra = "permanent" }\n',
            'applications = { demo-extra = "permanent" }\nsteps = ["assemble", "tar"]\n',
            1,
        )
    )
    found = {}
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        if version == "0.3.0":
            runtime = project / "config" / "runtime.py"
            runtime.write_text(runtime.read_text() + BROKEN_RUNTIME)
        result = pyrelease("build", "--version", version, "--overwrite", cwd=project)
        assert result.returncode == 0, result.stdout + result.stderr
        found[version] = project / "_build" / "prod" / f"demo-{version}.tar.xz"
        assert found[version].is_file()
    return found


def info_version(port: int) -> str:
    status, body = http_get(f"http://127.0.0.1:{port}/info")
    assert status == 200, body
    return json.loads(body)["release"]["version"]


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    """The deploy root; every daemon started in it is stopped afterwards."""
    path = tmp_path / "srv" / "demo"
    yield path
    for script in sorted(path.glob("releases/*/bin/demo")):
        subprocess.run([str(script), "stop"], env=base_env(), capture_output=True, timeout=120)


@dataclass
class StoreCase:
    """A store URL with the environment of the build machine that pushes and of the
    server that pulls (a read-only key or token where the store has such a thing)."""

    url: str
    push_env: dict[str, str] = field(default_factory=dict)
    pull_env: dict[str, str] = field(default_factory=dict)


STORES = ["folder", "http", "s3", "github"]  # each store kind runs the whole round trip


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    """moto's S3 server (signatures checked), started only if an S3 case runs."""
    with moto_s3() as server:
        yield server


def _no_aws_files(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` without moto's ``HOME=/nonexistent`` (the node started by --restart
    inherits it), pointing the AWS profile files at nothing instead."""
    env = {k: v for k, v in env.items() if k != "HOME"}
    env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws")
    return env


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreCase]:
    """A store of each kind, with the environments its commands need."""
    if request.param == "folder":
        yield StoreCase(f"file://{tmp_path / 'store'}")
    elif request.param == "http":
        token = {"RELEASE_DEPLOY_TOKEN": "t0ken"}
        with store_server(tmp_path / "store", token="t0ken") as server:
            yield StoreCase(server.url, token, token)
    elif request.param == "s3":
        moto: Moto = request.getfixturevalue("moto")
        yield StoreCase(
            f"s3://{BUCKET}/e2e-{tmp_path.name}",
            _no_aws_files(moto.writer, tmp_path),
            _no_aws_files(moto.reader, tmp_path),
        )
    elif request.param == "github":
        # A stand-in: GitHub's API cannot be reached from here (see github_standin).
        with GitHubStandIn("acme/demo") as gh:
            api = {"GITHUB_API_URL": gh.api}
            yield StoreCase(
                "github://acme/demo",
                {**api, "GITHUB_TOKEN": WRITE_TOKEN},
                {**api, "GITHUB_TOKEN": READ_TOKEN},
            )


def test_round_trip(tarballs: dict[str, Path], root: Path, store: StoreCase) -> None:
    url, push_env, pull_env = store.url, store.push_env, store.pull_env
    port = free_port()
    env = {"PORT": str(port), **pull_env}
    out = ok(deploy("push", tarballs["0.1.0"], "--to", url, env=push_env))
    assert "pushed demo 0.1.0 (" in out
    out = ok(deploy("push", tarballs["0.1.0"], "--to", url, env=push_env))
    assert "is already in" in out and "nothing to do" in out  # push is idempotent
    out = ok(deploy("pull", "--from", url, "--root", root, env=pull_env))
    assert "pulled demo 0.1.0" in out and "sha256 ok" in out and "now current" in out
    info = json.loads((root / "current/releases/0.1.0/build_info.json").read_text())
    assert info["glibc"] and info["glibc"][0].isdigit()  # recorded at build time

    with node(root / "current" / "bin" / "demo", {"PORT": str(port)}) as first:
        wait_http(f"http://127.0.0.1:{port}/health", first.proc)
        assert info_version(port) == "0.1.0"

        ok(deploy("push", tarballs["0.2.0"], "--to", url, env=push_env))
        out = ok(deploy("pull", "--from", url, "--root", root, "--restart", env=env))
        assert "pulled demo 0.2.0" in out
        assert "stopping 0.1.0" in out and "0.2.0 is running" in out
        assert first.wait(60) == 0  # the old node was stopped through its bin/demo stop
    assert info_version(port) == "0.2.0"
    assert os.readlink(root / "current") == "releases/0.2.0"

    out = ok(deploy("rollback", "--root", root, "--restart", env=env))
    assert "rolled back from 0.2.0 to 0.1.0" in out and "0.1.0 is running" in out
    assert info_version(port) == "0.1.0"
    assert os.readlink(root / "current") == "releases/0.1.0"
    assert os.readlink(root / "previous") == "releases/0.2.0"


def test_failed_start_falls_back_to_the_old_version(
    tarballs: dict[str, Path], root: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {"PORT": str(port)}
    store = tmp_path / "store"
    for version in ("0.1.0", "0.3.0"):
        ok(deploy("push", tarballs[version], "--to", store))

    # --start: release-deploy becomes the node (exec), as a service manager wants.
    proc = subprocess.Popen(
        [*DEPLOY, "pull", "--from", str(store), "--root", str(root), "--version", "0.1.0",
         "--start"],
        env={**base_env(), **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc, timeout=120)
        assert info_version(port) == "0.1.0"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)

    out = ok(deploy("pull", "--from", store, "--root", root, "--version", "0.1.0", "--daemon",
                    env=env))  # fmt: skip
    assert "already current" in out and "0.1.0 is running" in out
    assert info_version(port) == "0.1.0"
    result = deploy("pull", "--from", store, "--root", root, "--restart", "--timeout", "60",
                    env=env)  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0.3.0 did not start" in result.stderr
    assert "so 0.1.0 is current again and running" in result.stderr
    assert "Traceback" not in result.stderr.split("ERROR:")[0]
    assert os.readlink(root / "current") == "releases/0.1.0"
    assert info_version(port) == "0.1.0"
