"""The error list of ``release-deploy`` through the real CLI for the S3 and GitHub
stores: each is one ``ERROR:`` line naming the problem and the fix, exit status 1,
no traceback, and the root left as it was. (Folder and HTTP stores:
test_deploy_pull.py.) S3 is moto's server with signatures checked; GitHub is the
``github_standin`` server, standing in for GitHub's API, which cannot be reached
from here."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from deploy_helpers import build_info, deploy, make_tarball
from github_standin import READ_TOKEN, WRITE_TOKEN, GitHubStandIn
from pyrelease.deploy.host import host_triple
from s3_server import BUCKET, Moto, moto_s3

ARM = "aarch64-unknown-linux-gnu"


def dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


@dataclass
class Remote:
    url: str
    push_env: dict[str, str]
    pull_env: dict[str, str]
    bad_credentials: dict[str, str]
    """The pull environment with a credential the server refuses."""
    credential_variable: str
    unreachable: dict[str, str]
    """The pull environment pointing at a port nothing listens on."""
    where: str
    """How the unreachable message names the place."""


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["s3", "github"])
def remote(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Remote]:
    dead = dead_url()
    if request.param == "s3":
        moto: Moto = request.getfixturevalue("moto")
        files = {"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/none"}
        reader = {**moto.reader, **files}
        yield Remote(
            url=f"s3://{BUCKET}/{tmp_path.name}",
            push_env={**moto.writer, **files},
            pull_env=reader,
            bad_credentials={**reader, "AWS_SECRET_ACCESS_KEY": "wrong"},
            credential_variable="AWS_SECRET_ACCESS_KEY",
            unreachable={**reader, "AWS_ENDPOINT_URL": dead},
            where=dead,
        )
    else:
        with GitHubStandIn("acme/shop") as gh:
            api = {"GITHUB_API_URL": gh.api}
            reader = {**api, "GITHUB_TOKEN": READ_TOKEN}
            yield Remote(
                url="github://acme/shop",
                push_env={**api, "GITHUB_TOKEN": WRITE_TOKEN},
                pull_env=reader,
                bad_credentials={**reader, "GITHUB_TOKEN": "ghp_revoked"},
                credential_variable="GITHUB_TOKEN",
                unreachable={**reader, "GITHUB_API_URL": dead},
                where=dead.removeprefix("http://"),
            )


def fails(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    err = result.stderr
    assert err.startswith("ERROR: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err


def test_errors_name_the_problem_and_the_fix(remote: Remote, tmp_path: Path) -> None:
    root = tmp_path / "srv" / "demo"
    for version, triple in (("1.0.0", host_triple()), ("1.1.0", host_triple()), ("2.0.0", ARM)):
        info = build_info(version=version, triple=triple)
        tarball = make_tarball(tmp_path / f"demo-{version}.tar.gz", info, fast=True)
        result = deploy("push", tarball, "--to", remote.url, env=remote.push_env)
        assert result.returncode == 0, result.stdout + result.stderr

    # A read-only key or token cannot push, and the message says what to grant.
    tarball = make_tarball(tmp_path / "demo-3.0.0.tar.gz", build_info(version="3.0.0"), fast=True)
    fails(deploy("push", tarball, "--to", remote.url, env=remote.pull_env), remote.url)

    pull = ("pull", "--from", remote.url, "--root", root)
    fails(deploy(*pull, env=remote.bad_credentials), remote.credential_variable)
    fails(deploy(*pull, env=remote.unreachable), "cannot reach", remote.where)
    fails(deploy(*pull, "--version", "9.9", env=remote.pull_env),
          "demo 9.9 is not in", "the versions there are 1.0.0, 1.1.0, 2.0.0")  # fmt: skip
    fails(deploy(*pull, "--version", "2.0.0", env=remote.pull_env),
          f"demo 2.0.0 only for {ARM}", f"not for this host's {host_triple()}")  # fmt: skip
    fails(deploy("list", "--from", remote.url, env=remote.bad_credentials),
          remote.credential_variable)  # fmt: skip
    assert not os.path.lexists(root / "current")
    assert not (root / "releases").exists() or not list((root / "releases").iterdir())

    # And with good credentials the newest for this host is pulled (not the aarch64 one).
    result = deploy(*pull, env=remote.pull_env)
    assert result.returncode == 0, result.stderr
    assert "pulled demo 1.1.0" in result.stdout


def test_pushing_to_github_without_a_token_says_so_before_any_request(tmp_path: Path) -> None:
    tarball = make_tarball(tmp_path / "demo-1.0.0.tar.gz", build_info(), fast=True)
    with GitHubStandIn("acme/shop") as gh:
        result = deploy("push", tarball, "--to", "github://acme/shop",
                        env={"GITHUB_API_URL": gh.api})  # fmt: skip
        fails(result, "to push to github://acme/shop release-deploy needs a token",
              "set GITHUB_TOKEN")  # fmt: skip
        assert gh.state.log == []
