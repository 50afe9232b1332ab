"""A store's ``NAME/index.json`` under concurrent pushes, and finding a release's
name from what a store holds, with every kind of store a real server on 127.0.0.1
(GitHub's API through ``github_standin``, which stands in for it because GitHub
cannot be reached from here; S3 through moto's server with signatures checked)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy_helpers import (
    add_file,
    build_info,
    deploy,
    make_tarball,
    start_deploy,
    store_server,
)
from github_standin import READ_TOKEN, WRITE_TOKEN, GitHubStandIn
from pyrelease.deploy.errors import DeployError
from pyrelease.deploy.index import read_index
from pyrelease.deploy.push import push
from pyrelease.deploy.stores import open_store
from s3_server import BUCKET, Moto, moto_s3


def tarball(tmp_path: Path, version: str, name: str = "demo", extra: bytes = b"") -> Path:
    info = build_info(name=name, version=version)
    path = tmp_path / "build" / f"{name}-{version}{'-' + extra.hex() if extra else ''}.tar.gz"
    members = [add_file("lib/extra.bin", extra)] if extra else []
    return make_tarball(path, info, members, fast=True)


def versions(url: str, env: dict[str, str], name: str = "demo") -> list[str]:
    return [e.version for e in read_index(open_store(url, env), name).entries]


# --------------------------------------------------------------------------- concurrent pushes


def test_a_push_during_another_push_keeps_both_in_the_index(tmp_path: Path) -> None:
    """A store without locks (HTTP): push B runs to completion while push A is
    uploading; A re-reads the index before writing it, so B's entry survives."""
    first, second = tarball(tmp_path, "1.0.0"), tarball(tmp_path, "2.0.0")
    with store_server(tmp_path / "store") as server:
        raced = []

        def say(line: str) -> None:
            if line.startswith("uploading") and not raced:
                raced.append(push(second, server.url, {}, lambda _line: None))

        assert push(first, server.url, {}, say)
        assert raced == [True]
        assert versions(server.url, {}) == ["1.0.0", "2.0.0"]


def test_the_same_version_pushed_twice_at_once_is_refused_not_hidden(tmp_path: Path) -> None:
    """Two different builds of one version racing: the one that writes the index
    second finds the other's entry and stops with an error, instead of replacing it."""
    first = tarball(tmp_path, "1.0.0", extra=b"a")
    second = tarball(tmp_path, "1.0.0", extra=b"b")
    with store_server(tmp_path / "store") as server:

        def say(line: str) -> None:
            if line.startswith("uploading"):
                push(second, server.url, {}, lambda _line: None)

        with pytest.raises(DeployError, match=r"another push published a different demo 1\.0\.0"):
            push(first, server.url, {}, say)
        index = read_index(open_store(server.url, {}), "demo")
        assert [e.version for e in index.entries] == ["1.0.0"]


def test_pushes_to_a_folder_store_take_turns(tmp_path: Path) -> None:
    """On a folder store a push holds a lock from reading the index to writing it;
    a second push (another process) waits for it and says so."""
    store = tmp_path / "store"
    first, second = tarball(tmp_path, "1.0.0"), tarball(tmp_path, "2.0.0")
    waited: list[str] = []

    def say(line: str) -> None:
        if not line.startswith("uploading") or waited:
            return
        other = start_deploy("push", str(second), "--to", str(store))
        # Wait (bounded by the process's own end) until the other push reports that
        # it is waiting for this one; a push that does not wait ends instead.
        assert other.stdout is not None
        for out_line in other.stdout:
            if "waiting for another push" in out_line:
                break
        waited.append(out_line)
        procs.append(other)

    procs: list[subprocess.Popen[str]] = []
    assert push(first, str(store), {}, say)
    out, err = procs[0].communicate(timeout=120)
    assert procs[0].returncode == 0, out + err
    assert "waiting for another push" in waited[0]
    assert "waited" in out and "pushed demo 2.0.0" in out
    assert versions(str(store), {}) == ["1.0.0", "2.0.0"]
    # The lock file is not an object of the store.
    assert all(
        not n.rsplit("/", 1)[-1].startswith(".") for n in open_store(str(store), {}).list("")
    )


# --------------------------------------------------------------------------- name discovery


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_s3() as server:
        yield server


@pytest.fixture(params=["folder", "s3", "github"])
def listable(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[str, dict[str, str], dict[str, str]]]:
    """(URL, push environment, pull environment) of each store that can list its objects."""
    if request.param == "folder":
        yield str(tmp_path / "store"), {}, {}
    elif request.param == "s3":
        moto: Moto = request.getfixturevalue("moto")
        no_files = {
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent",
        }
        yield (
            f"s3://{BUCKET}/{tmp_path.name}",
            {**moto.writer, **no_files},
            {**moto.reader, **no_files},
        )
    else:
        with GitHubStandIn("acme/shop") as gh:
            api = {"GITHUB_API_URL": gh.api}
            yield (
                "github://acme/shop",
                {**api, "GITHUB_TOKEN": WRITE_TOKEN},
                {**api, "GITHUB_TOKEN": READ_TOKEN},
            )


def test_pull_and_list_find_the_release_name_in_the_store(
    tmp_path: Path, listable: tuple[str, dict[str, str], dict[str, str]]
) -> None:
    url, push_env, pull_env = listable
    for version in ("1.0.0", "1.1.0"):
        result = deploy("push", tarball(tmp_path, version, name="shop"), "--to", url, env=push_env)
        assert result.returncode == 0, result.stdout + result.stderr
    # Each store lists the index as NAME/index.json (what pull looks for).
    assert "shop/index.json" in open_store(url, pull_env).list("")

    listed = deploy("list", "--from", url, env=pull_env)
    assert listed.returncode == 0, listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["1.0.0", "1.1.0"]

    root = tmp_path / "srv" / "app"  # a folder name that is not the release's
    pulled = deploy("pull", "--from", url, "--root", root, env=pull_env)
    assert pulled.returncode == 0, pulled.stderr
    assert "pulled shop 1.1.0" in pulled.stdout
    assert os.readlink(root / "current") == "releases/1.1.0"

    result = deploy("push", tarball(tmp_path, "3.0.0", name="cart"), "--to", url, env=push_env)
    assert result.returncode == 0, result.stderr
    several = deploy("list", "--from", url, env=pull_env)
    assert several.returncode == 1 and "Traceback" not in several.stderr
    assert "holds several releases (cart, shop): pass --name NAME" in several.stderr
    named = deploy("list", "--from", url, "--name", "cart", env=pull_env)
    assert named.returncode == 0 and named.stdout.startswith("3.0.0"), named.stderr
    # A root that already has a release keeps pulling that one.
    again = deploy("pull", "--from", url, "--root", root, env=pull_env)
    assert again.returncode == 0 and "already current" in again.stdout, again.stderr
    assert (
        json.loads((root / "current/releases/1.1.0/build_info.json").read_text())["name"] == "shop"
    )


# --------------------------------------------------------------------------- downgrades


def test_pull_never_goes_back_to_an_older_version_unless_asked(tmp_path: Path) -> None:
    """The index is not signed: whoever can write it could list only an older (signed)
    version. ``pull`` without ``--version`` therefore never moves to a version older
    than the current one; ``--version`` does, on purpose."""
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    for version in ("1.0.0", "2.0.0"):
        assert deploy("push", tarball(tmp_path, version), "--to", store).returncode == 0
    assert deploy("pull", "--from", store, "--root", root).returncode == 0
    assert os.readlink(root / "current") == "releases/2.0.0"

    index_path = store / "demo" / "index.json"
    index = json.loads(index_path.read_text())
    index["versions"] = [e for e in index["versions"] if e["version"] == "1.0.0"]
    index_path.write_text(json.dumps(index))

    result = deploy("pull", "--from", store, "--root", root)
    assert result.returncode == 0, result.stderr
    assert (
        f"the newest demo in {store} is 1.0.0, older than the current 2.0.0: nothing to do "
        "(pass --version 1.0.0 to go back to it)"
    ) in result.stdout
    assert os.readlink(root / "current") == "releases/2.0.0"
    assert not (root / "releases" / "1.0.0").exists()

    result = deploy("pull", "--from", store, "--root", root, "--version", "1.0.0")
    assert result.returncode == 0, result.stderr
    assert os.readlink(root / "current") == "releases/1.0.0"
