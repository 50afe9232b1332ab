"""The folder and HTTP stores behind the Store protocol, against real files and
real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from deploy_helpers import store_server
from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores import open_store
from pyrelease.deploy.stores.http import HttpStore
from pyrelease.deploy.stores.local import LocalStore


def test_open_store_maps_schemes(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path), {}), LocalStore)
    assert isinstance(open_store(f"file://{tmp_path}", {}), LocalStore)
    assert isinstance(open_store("https://store.example/x", {}), HttpStore)
    with pytest.raises(StoreError, match=r"unknown store scheme 'ftp://'.*s3://, github://"):
        open_store("ftp://host/x", {})
    with pytest.raises(StoreError, match="three slashes"):
        open_store("file://srv/store", {})


def test_local_store_round_trip(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "store"), {})
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    store.put("demo/1.0/a.tar.gz", src)
    store.put("demo/index.json", src)
    assert store.list("demo/1.0/") == ["demo/1.0/a.tar.gz"]
    assert store.size("demo/1.0/a.tar.gz") == 256_000
    assert b"".join(store.get("demo/1.0/a.tar.gz", start=1000)) == src.read_bytes()[1000:]
    store.delete("demo/1.0/a.tar.gz")
    store.delete("demo/1.0/a.tar.gz")  # absent: not an error
    with pytest.raises(NotFound):
        store.size("demo/1.0/a.tar.gz")
    with pytest.raises(NotFound):
        store.get("nope")


@pytest.mark.parametrize("name", ["../x", "a/../../x", "/etc/passwd", "a//b", ""])
def test_local_store_refuses_names_leaving_its_folder(tmp_path: Path, name: str) -> None:
    with pytest.raises(StoreError, match="invalid object name"):
        LocalStore(str(tmp_path), {}).size(name)


def test_http_store_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(bytes(range(256)) * 1000)
    with store_server(tmp_path / "served") as server:
        store = HttpStore(server.url + "/base/", {})
        store.put("demo/1.0/a b.tar.gz", src)
        assert (tmp_path / "served/base/demo/1.0/a b.tar.gz").read_bytes() == src.read_bytes()
        assert store.size("demo/1.0/a b.tar.gz") == 256_000
        assert b"".join(store.get("demo/1.0/a b.tar.gz", start=5)) == src.read_bytes()[5:]
        assert server.log[-1][2] == "bytes=5-"
        assert b"".join(store.get("demo/1.0/a b.tar.gz", start=256_000)) == b""
        with pytest.raises(StoreError, match="cannot list"):
            store.list("")
        store.delete("demo/1.0/a b.tar.gz")
        store.delete("demo/1.0/a b.tar.gz")
        with pytest.raises(NotFound):
            store.size("demo/1.0/a b.tar.gz")


@pytest.fixture
def plain_server(tmp_path: Path) -> Iterator[str]:
    """Python's own file server, which ignores Range headers."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def test_http_store_resumes_from_a_server_without_range(tmp_path: Path, plain_server: str) -> None:
    (tmp_path / "obj").write_bytes(b"0123456789" * 10_000)
    store = HttpStore(plain_server, {})
    assert b"".join(store.get("obj", start=12_345)) == (b"0123456789" * 10_000)[12_345:]
