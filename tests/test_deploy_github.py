"""The GitHub Releases store against a local stand-in for GitHub's API.

GitHub's API cannot be reached from here, so ``github_standin.GitHubStandIn``
(a real threaded HTTP server on 127.0.0.1) stands in for it: it answers the
same paths with the same JSON fields and status codes, uploads only on the
release's ``upload_url``, and serves downloads through a 302 to a storage URL
on another host name that refuses the API token, as GitHub does.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from github_standin import READ_TOKEN, WRITE_TOKEN, Fault, GitHubStandIn
from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores.github import GitHubStore

REPO = "acme/shop"


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(REPO) as server:
        yield server


@pytest.fixture
def env(gh: GitHubStandIn) -> dict[str, str]:
    return {"GITHUB_API_URL": gh.api, "GITHUB_TOKEN": WRITE_TOKEN}


@pytest.fixture
def store(env: dict[str, str]) -> GitHubStore:
    return GitHubStore(f"github://{REPO}", env)


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _tarball(tmp_path: Path, size: int = 400_000) -> Path:
    return _file(tmp_path, "demo-1.0.tar.gz", os.urandom(size))


# -- every method ------------------------------------------------------------


def test_put_list_size_get_delete(gh: GitHubStandIn, store: GitHubStore, tmp_path: Path) -> None:
    tarball = _tarball(tmp_path)
    store.put("demo/1.0/demo-1.0.tar.gz", tarball)
    store.put("demo/1.0/demo-1.0.tar.gz.sha256", _file(tmp_path, "s", b"abc  demo-1.0.tar.gz\n"))
    store.put("demo/index.json", _file(tmp_path, "i", b'{"versions": []}'))

    version, index = gh.release("demo-1.0"), gh.release("demo-index")
    assert version and [a["name"] for a in version["assets"]] == [
        "demo-1.0.tar.gz",
        "demo-1.0.tar.gz.sha256",
    ]
    assert index and [a["name"] for a in index["assets"]] == ["index.json"]
    assert index["make_latest"] == "false"  # the index never shows as the latest release

    assert store.list("demo/") == [
        "demo/1.0/demo-1.0.tar.gz",
        "demo/1.0/demo-1.0.tar.gz.sha256",
        "demo/index.json",
    ]
    assert store.list("demo/1.0/") == [
        "demo/1.0/demo-1.0.tar.gz",
        "demo/1.0/demo-1.0.tar.gz.sha256",
    ]
    assert store.list("demo/2.0/") == []
    assert store.list("") == store.list("demo/")
    assert store.size("demo/1.0/demo-1.0.tar.gz") == 400_000
    assert b"".join(store.get("demo/1.0/demo-1.0.tar.gz")) == tarball.read_bytes()
    assert b"".join(store.get("demo/index.json")) == b'{"versions": []}'

    store.delete("demo/1.0/demo-1.0.tar.gz")
    store.delete("demo/1.0/demo-1.0.tar.gz")  # absent: not an error
    store.delete("demo/7.0/x")  # no such release: not an error
    assert store.list("demo/1.0/") == ["demo/1.0/demo-1.0.tar.gz.sha256"]
    with pytest.raises(
        NotFound, match=r"demo/1\.0/demo-1\.0\.tar\.gz is not in github://acme/shop"
    ):
        store.size("demo/1.0/demo-1.0.tar.gz")


def test_put_replaces_an_asset_without_leaving_a_temporary_one(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path
) -> None:
    store.put("demo/index.json", _file(tmp_path, "i", b"old"))
    store.put("demo/index.json", _file(tmp_path, "i", b"new"))
    assert b"".join(store.get("demo/index.json")) == b"new"
    release = gh.release("demo-index")
    assert release and [a["name"] for a in release["assets"]] == ["index.json"]


@pytest.mark.parametrize("after", [0, 1], ids=["renaming-the-old-aside", "renaming-the-new"])
def test_a_failed_replacement_keeps_the_old_asset(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path, after: int
) -> None:
    store.put("demo/index.json", _file(tmp_path, "i", b"old"))
    gh.state.faults = [Fault("PATCH", "/releases/assets/", 422, after=after)]
    with pytest.raises(StoreError, match="GitHub answered HTTP 422"):
        store.put("demo/index.json", _file(tmp_path, "i", b"new"))
    assert b"".join(store.get("demo/index.json")) == b"old"
    release = gh.release("demo-index")
    assert release and [a["name"] for a in release["assets"]] == ["index.json"]
    assert [m for m, p, h in gh.state.log if m == "PATCH"] == ["PATCH"] * (1 + 2 * after)


def test_a_temporary_asset_left_by_a_dead_push_is_cleared(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path
) -> None:
    store.put("demo/index.json", _file(tmp_path, "i", b"old"))
    store.put("demo/index.json.0123abcd.part", _file(tmp_path, "i", b"half"))
    store.put("demo/index.json", _file(tmp_path, "i", b"new"))
    release = gh.release("demo-index")
    assert release and [a["name"] for a in release["assets"]] == ["index.json"]
    assert b"".join(store.get("demo/index.json")) == b"new"


def test_a_broken_earlier_upload_is_replaced(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path
) -> None:
    store.put("demo/1.0/f", _file(tmp_path, "f", b"first"))
    release = gh.release("demo-1.0")
    assert release
    release["assets"][0]["state"] = "new"  # what GitHub shows for an upload that died
    assert store.list("demo/") == []  # not an object until uploaded
    with pytest.raises(NotFound):
        store.size("demo/1.0/f")
    store.put("demo/1.0/f", _file(tmp_path, "f", b"second"))
    assert b"".join(store.get("demo/1.0/f")) == b"second"


def test_an_existing_release_is_used_and_the_commit_recorded(
    gh: GitHubStandIn, env: dict[str, str], tmp_path: Path
) -> None:
    store = GitHubStore(f"github://{REPO}", {**env, "GITHUB_SHA": "0123abc"})
    store.put("demo/1.0/a", _file(tmp_path, "a", b"a"))
    store.put("demo/1.0/b", _file(tmp_path, "b", b"b"))
    assert [r["tag_name"] for r in gh.state.releases] == ["demo-1.0"]
    release = gh.release("demo-1.0")
    assert release and release["target_commitish"] == "0123abc"


def test_downloads_follow_the_redirect_to_storage_without_the_token(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path
) -> None:
    store.put("demo/1.0/f", _file(tmp_path, "f", b"payload"))
    assert b"".join(store.get("demo/1.0/f")) == b"payload"
    storage = [h for m, p, h in gh.state.log if p.startswith("/storage/")]
    assert len(storage) == 1 and "Authorization" not in storage[0]
    uploads = [p for m, p, h in gh.state.log if m == "POST" and "/assets" in p]
    assert uploads and all(p.startswith("/uploads/repos/acme/shop/releases/") for p in uploads)


def test_get_from_an_offset(gh: GitHubStandIn, store: GitHubStore, tmp_path: Path) -> None:
    data = _tarball(tmp_path).read_bytes()
    store.put("demo/1.0/t", tmp_path / "demo-1.0.tar.gz")
    assert b"".join(store.get("demo/1.0/t", 399_000)) == data[399_000:]
    assert [h.get("Range") for m, p, h in gh.state.log if p.startswith("/storage/")] == [
        "bytes=399000-"
    ]
    assert b"".join(store.get("demo/1.0/t", len(data))) == b""
    with pytest.raises(StoreError, match="fewer than the 400001 already downloaded"):
        store.get("demo/1.0/t", len(data) + 1)


def test_a_download_cut_midway_is_resumed(
    gh: GitHubStandIn, store: GitHubStore, tmp_path: Path
) -> None:
    data = _tarball(tmp_path, 1_000_000).read_bytes()
    store.put("demo/1.0/t", tmp_path / "demo-1.0.tar.gz")
    gh.state.cut_download_after = 300_000
    received = bytearray()
    with pytest.raises(StoreError, match=r"broke after \d+ bytes .*run the command again") as e:
        for chunk in store.get("demo/1.0/t"):
            received += chunk
    assert 0 < len(received) <= 300_000
    assert f"broke after {len(received)} bytes" in str(e.value)
    received += b"".join(store.get("demo/1.0/t", len(received)))
    assert bytes(received) == data


def test_list_follows_pages_of_releases_and_assets(env: dict[str, str], tmp_path: Path) -> None:
    store = GitHubStore(f"github://{REPO}", env, per_page=2)
    f = _file(tmp_path, "f", b"x")
    names = [f"demo/{v}/demo-{v}.tar.gz" for v in ("1.0", "1.1", "2.0", "2.1", "3.0")]
    names += ["demo/3.0/demo-3.0.tar.gz.sha256", "demo/3.0/demo-3.0.tar.gz.sig"]
    for name in names:
        store.put(name, f)
    assert store.list("demo/") == sorted(names)
    assert store.list("demo/3.0/") == names[-3:][:1] + names[-2:]


def test_names_with_dashes_are_told_apart(store: GitHubStore, tmp_path: Path) -> None:
    f = _file(tmp_path, "f", b"x")
    store.put("my-app/1.0/my-app-1.0.tar.gz", f)
    store.put("my/2.0/my-2.0.tar.gz", f)
    store.put("my-app/index.json", f)
    assert store.list("my/") == ["my/2.0/my-2.0.tar.gz"]
    assert store.list("my-app/") == ["my-app/1.0/my-app-1.0.tar.gz", "my-app/index.json"]
    assert store.list("") == [
        "my-app/1.0/my-app-1.0.tar.gz",
        "my-app/index.json",
        "my/2.0/my-2.0.tar.gz",
    ]


# -- errors ------------------------------------------------------------------------


def test_a_bad_token_names_the_variable(env: dict[str, str]) -> None:
    store = GitHubStore(f"github://{REPO}", {**env, "GITHUB_TOKEN": "ghp_revoked"})
    with pytest.raises(StoreError, match="GitHub refused the token in GITHUB_TOKEN"):
        store.list("demo/")


def test_a_read_only_token_cannot_push(env: dict[str, str], tmp_path: Path) -> None:
    store = GitHubStore(f"github://{REPO}", {**env, "GITHUB_TOKEN": READ_TOKEN})
    with pytest.raises(StoreError) as err:
        store.put("demo/1.0/f", _file(tmp_path, "f", b"x"))
    assert "give the token in GITHUB_TOKEN 'contents: write' permission on acme/shop" in str(
        err.value
    )


def test_pushing_needs_a_token(gh: GitHubStandIn, tmp_path: Path) -> None:
    store = GitHubStore(f"github://{REPO}", {"GITHUB_API_URL": gh.api})
    for call in (lambda: store.put("demo/1.0/f", tmp_path), lambda: store.delete("demo/1.0/f")):
        with pytest.raises(StoreError, match="needs a token: set GITHUB_TOKEN"):
            call()
    assert gh.state.log == []  # refused before any request


def test_a_private_repository_without_a_token(gh: GitHubStandIn) -> None:
    store = GitHubStore(f"github://{REPO}", {"GITHUB_API_URL": gh.api})
    with pytest.raises(StoreError, match="or set GITHUB_TOKEN if it is private"):
        store.size("demo/index.json")


def test_the_rate_limit(gh: GitHubStandIn, env: dict[str, str]) -> None:
    gh.state.rate_limited = True
    with pytest.raises(
        StoreError, match="rate limit is used up for github://acme/shop: set GITHUB"
    ):
        GitHubStore(f"github://{REPO}", {"GITHUB_API_URL": gh.api}).list("demo/")
    with pytest.raises(StoreError, match="rate limit is used up for github://acme/shop: wait"):
        GitHubStore(f"github://{REPO}", env).list("demo/")


def test_a_repository_that_does_not_exist(env: dict[str, str]) -> None:
    store = GitHubStore("github://acme/nope", env)
    for call in (lambda: store.list("demo/"), lambda: store.get("demo/index.json")):
        with pytest.raises(StoreError, match="GitHub has no repository acme/nope"):
            call()


def test_a_missing_object(store: GitHubStore, tmp_path: Path) -> None:
    store.put("demo/1.0/a", _file(tmp_path, "a", b"a"))
    for name in ("demo/1.0/b", "demo/9.9/a", "demo/index.json"):
        with pytest.raises(NotFound, match="is not in github://acme/shop"):
            store.get(name)


def test_an_unreachable_api_is_named() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{s.getsockname()[1]}"
    store = GitHubStore(f"github://{REPO}", {"GITHUB_API_URL": f"http://{dead}"})
    with pytest.raises(StoreError, match=f"cannot reach {dead} for github://acme/shop"):
        store.list("demo/")


@pytest.mark.parametrize(
    "url", ["github://acme", "github://acme/shop/x", "github://acme/shop?x=1", "gh://acme/shop"]
)
def test_bad_store_urls(url: str) -> None:
    with pytest.raises(StoreError, match="write it as github://OWNER/REPO"):
        GitHubStore(url, {})


@pytest.mark.parametrize("name", ["demo", "demo/1.0/x/y", "demo/index/x", "demo/../x", "/d/x"])
def test_names_a_github_store_cannot_hold(store: GitHubStore, name: str) -> None:
    with pytest.raises(StoreError, match="is not a name a GitHub store can hold"):
        store.size(name)


def test_the_stores_import_nothing_of_the_assembler() -> None:
    code = (
        "import sys\n"
        "import pyrelease.deploy.stores.s3, pyrelease.deploy.stores.github\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('click', 'jinja2', 'botocore'))\n"
        "  or (m.startswith('pyrelease.') and not m.startswith('pyrelease.deploy')))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_local_version_labels(gh: GitHubStandIn, store: GitHubStore, tmp_path: Path) -> None:
    store.put("demo/1.0+cpu/demo-1.0+cpu.tar.gz", _file(tmp_path, "f", b"plus"))
    assert gh.release("demo-1.0+cpu")
    assert store.list("demo/") == ["demo/1.0+cpu/demo-1.0+cpu.tar.gz"]
    assert b"".join(store.get("demo/1.0+cpu/demo-1.0+cpu.tar.gz")) == b"plus"
