"""Helpers for the release-deploy tests: a real HTTP store server on 127.0.0.1,
small synthetic release tarballs, and running the real ``release-deploy``."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from pyrelease.deploy.host import host_glibc, host_triple

DEPLOY = [sys.executable, "-m", "pyrelease.deploy"]


def deploy(
    *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real ``release-deploy`` CLI."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASE_", "PORT"))}
    return subprocess.run(
        [*DEPLOY, *[str(a) for a in args]],
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_deploy(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("RELEASE_", "PORT"))}
    return subprocess.Popen(
        [*DEPLOY, *[str(a) for a in args]],
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


# --------------------------------------------------------------------------- HTTP store


class StoreServer:
    """A real HTTP server storing objects under ``root``: GET (with Range), HEAD, PUT, DELETE.

    ``token``: require ``Authorization: Bearer TOKEN``. ``drop``: for a path, how many
    GETs to cut off after half the body. ``delay``: seconds to sleep per 64 KiB sent.
    ``log`` records (method, path, Range header) of every request.
    """

    def __init__(self, root: Path, token: str | None = None) -> None:
        self.root = root
        self.token = token
        self.drop: dict[str, int] = {}
        self.delay = 0.0
        self.log: list[tuple[str, str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _path(self) -> Path | None:
                rel = self.path.lstrip("/").split("?")[0]
                from urllib.parse import unquote

                rel = unquote(rel)
                if ".." in rel.split("/"):
                    return None
                return server.root / rel

            def _authorized(self) -> bool:
                server.log.append((self.command, self.path, self.headers.get("Range", "")))
                if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
                    self._reply(401, b"")
                    return False
                return True

            def _reply(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_HEAD(self) -> None:
                self.do_GET()

            def do_GET(self) -> None:
                if not self._authorized():
                    return
                path = self._path()
                if path is None or not path.is_file():
                    self._reply(404, b"")
                    return
                data = path.read_bytes()
                start = 0
                rng = self.headers.get("Range", "")
                if rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(data):
                        self._reply(416, b"")
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                key = self.path.lstrip("/")
                if server.drop.get(key, 0) > 0:
                    server.drop[key] -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                for i in range(0, len(body), 1 << 16):
                    self.wfile.write(body[i : i + (1 << 16)])
                    if server.delay:
                        time.sleep(server.delay)

            def do_PUT(self) -> None:
                if not self._authorized():
                    return
                path = self._path()
                if path is None:
                    self._reply(400, b"")
                    return
                length = int(self.headers.get("Content-Length", "0"))
                path.parent.mkdir(parents=True, exist_ok=True)
                remaining = length
                with open(path, "wb") as f:
                    while remaining:
                        chunk = self.rfile.read(min(remaining, 1 << 16))
                        if not chunk:
                            break
                        f.write(chunk)
                        remaining -= len(chunk)
                self._reply(201, b"")

            def do_DELETE(self) -> None:
                if not self._authorized():
                    return
                path = self._path()
                if path is None or not path.is_file():
                    self._reply(404, b"")
                    return
                path.unlink()
                self._reply(204, b"")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> StoreServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@contextmanager
def store_server(root: Path, token: str | None = None) -> Iterator[StoreServer]:
    root.mkdir(parents=True, exist_ok=True)
    server = StoreServer(root, token).start()
    try:
        yield server
    finally:
        server.stop()


# --------------------------------------------------------------------------- tarballs


def build_info(name: str = "demo", version: str = "1.0.0", **changes: object) -> dict:
    info: dict[str, object] = {
        "name": name,
        "version": version,
        "triple": host_triple(),
        "needed_libs": ["libc.so.6"],
        "glibc": host_glibc() or None,
        "python": "3.11.7",
        "include_runtime": True,
        "env": "prod",
    }
    info.update(changes)
    return info


Member = Callable[[tarfile.TarFile], None]


def add_file(name: str, data: bytes = b"x", mode: int = 0o644) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        tar.addfile(info, io.BytesIO(data))

    return add


def add_special(name: str, kind: bytes, linkname: str = "", mode: int = 0o644) -> Member:
    def add(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = kind, linkname, mode
        if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            info.devmajor, info.devminor = 1, 3
        tar.addfile(info)

    return add


def make_tarball(
    path: Path, info: dict | None = None, members: list[Member] = (), fast: bool = False
) -> Path:
    """A release-shaped tarball: bin/NAME, releases/VSN/build_info.json, then ``members``."""
    info = info or build_info()
    name, version = info["name"], info["version"]
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz", compresslevel=1 if fast else 6) as tar:
        add_file(f"bin/{name}", b"#!/bin/sh\necho fake\n", 0o755)(tar)
        add_file(f"releases/{version}/build_info.json", json.dumps(info).encode())(tar)
        add_file("releases/start_erl.data", f"3.11 {version}".encode())(tar)
        for member in members:
            member(tar)
    return path


def publish_raw(store: Path, tarball: Path, info: dict, sha256: str | None = None) -> str:
    """Put ``tarball`` into a local store folder as-is (bypassing push's checks), as a
    hostile or broken store would hold it; returns the object name."""
    name, version, triple = info["name"], info["version"], info["triple"]
    obj = f"{name}/{version}/{name}-{version}-{triple}.tar.gz"
    dest = store / obj
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(tarball.read_bytes())
    digest = sha256 or hashlib.sha256(tarball.read_bytes()).hexdigest()
    (store / (obj + ".sha256")).write_text(f"{digest}  {dest.name}\n")
    index_path = store / name / "index.json"
    index = (
        json.loads(index_path.read_text())
        if index_path.exists()
        else {"name": name, "versions": []}
    )
    index["versions"].append(
        {"version": version, "triple": triple, "file": obj, "sha256": digest,
         "size": tarball.stat().st_size, "time": "2026-01-01T00:00:00Z", "signed": False}
    )  # fmt: skip
    index_path.write_text(json.dumps(index))
    return obj


def snapshot(base: Path, skip: Path) -> dict[str, int]:
    """Every file below ``base`` except under ``skip``, with its size."""
    found = {}
    for dirpath, _dirs, files in os.walk(base):
        if Path(dirpath) == skip or skip in Path(dirpath).parents:
            continue
        for f in files:
            p = Path(dirpath) / f
            found[str(p)] = p.lstat().st_size
    return found
