"""The control channel under attack: what an unauthenticated local peer can do
before the handshake (file descriptors, slow and oversized frames), what an
on-path relay can do after it (rewrite, replay), TLS, and output too large for
one frame. Every node here is a real release started with ``bin/demo start``."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import build_demo, free_port, make_cert, needs_openssl, node, run, wait_http
from pyrelease.node import channel

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project, _ = build_demo(tmp_path_factory.mktemp("chansec"))
    return project / "_build" / "prod" / "rel" / "demo" / "bin" / "demo"


@pytest.fixture
def running(script: Path):
    port = free_port()
    with node(script, {"PORT": str(port)}) as n:
        wait_http(f"http://127.0.0.1:{port}/health", n.proc)
        yield n


def sock_path(script: Path) -> str:
    return str(script.parent.parent / "tmp" / "sockets" / "demo.sock")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout}s")


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the node has closed ``sock`` (reads EOF or a reset)."""
    try:
        while True:
            if not sock.recv(65536):
                return True
    except BlockingIOError:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


# --- before authentication: bounded in time, count and bytes ---------------------------


def test_accept_loop_survives_file_descriptor_exhaustion(script: Path, running) -> None:
    # An rpc takes every free descriptor of the node for a few seconds, so the
    # control channel's accept() fails with EMFILE meanwhile. Once they are
    # released, the channel must serve again.
    hog = (
        "import os, threading, time\n"
        "def hold():\n"
        "    fds, end = [], time.monotonic() + 4\n"
        "    while time.monotonic() < end:  # take every descriptor, and any freed one\n"
        "        try:\n"
        "            fds.append(os.open('/dev/null', os.O_RDONLY))\n"
        "        except OSError:\n"
        "            time.sleep(0.001)\n"
        "    for fd in fds:\n"
        "        os.close(fd)\n"
        "threading.Thread(target=hold).start()\n"
        "time.sleep(0.5)\n"
        "print('exhausted')\n"
    )
    out = run(script, "rpc", hog)
    assert out.stdout == "exhausted\n", out.stdout + out.stderr
    during = run(script, "pid", timeout=60)  # queued while accept() fails
    after = run(script, "pid", timeout=60)
    assert after.stdout == f"{running.proc.pid}\n", after.stderr
    assert during.stdout == f"{running.proc.pid}\n", during.stderr
    assert running.proc.poll() is None


def test_unauthenticated_connections_are_capped(script: Path, running) -> None:
    pid = running.proc.pid
    baseline = open_fds(pid)
    attackers: list[socket.socket] = []
    try:
        for _ in range(400):  # far more than the node may hold before authentication
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(sock_path(script))
            except BlockingIOError:  # the backlog is full: let the node drain it
                s.close()
                time.sleep(0.01)
                continue
            attackers.append(s)
        time.sleep(1)  # give the node time to accept what it will
        held = open_fds(pid) - baseline
        assert held <= 64, f"node holds {held} extra descriptors for unauthenticated peers"
        # While the attack goes on, a management command still gets through.
        out = run(script, "pid", timeout=60)
        assert out.stdout == f"{pid}\n", out.stderr
    finally:
        for s in attackers:
            s.close()
    assert run(script, "pid").stdout == f"{pid}\n"


def test_a_dripping_peer_is_cut_off_at_the_handshake_deadline(script: Path, running) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path(script))
        s.settimeout(10)
        channel.recv(s)  # hello
        s.setblocking(False)
        started = time.monotonic()
        # One byte every 3 s: each read would finish within a per-read timeout.
        payload = (200).to_bytes(4, "big") + b"{" + b" " * 199
        for byte in payload:
            if closed_by_peer(s):
                break
            assert time.monotonic() - started < 60, "the node kept a dripping peer for 60 s"
            with contextlib.suppress(BlockingIOError, BrokenPipeError, ConnectionResetError):
                s.send(bytes([byte]))
            time.sleep(3)
        else:
            raise AssertionError("the node read a whole frame dripped over minutes")
    assert run(script, "pid").stdout == f"{running.proc.pid}\n"


def test_a_huge_frame_before_authentication_is_not_read(script: Path, running) -> None:
    size = 16 * 1024 * 1024
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(sock_path(script))
        s.settimeout(30)
        channel.recv(s)  # hello
        s.sendall(size.to_bytes(4, "big"))
        # The node must refuse on the length prefix, not read (and hold) 16 MiB first.
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            s.sendall(b"x" * size)
    assert run(script, "pid").stdout == f"{running.proc.pid}\n"


def test_client_gives_up_on_a_node_that_does_not_answer(script: Path, running) -> None:
    pid = running.proc.pid
    os.kill(pid, signal.SIGSTOP)
    backlog: list[socket.socket] = []
    try:
        # A stopped node accepts nothing: fill its listen queue, as a flood would.
        for _ in range(200):
            s = socket.socket(socket.AF_UNIX)
            s.setblocking(False)
            try:
                s.connect(sock_path(script))
            except BlockingIOError:
                s.close()
                break
            backlog.append(s)
        full = run(script, "pid", timeout=120)
        for s in backlog:
            s.close()
        backlog.clear()
        silent = run(script, "pid", timeout=120)  # connects, then no handshake comes
    finally:
        for s in backlog:
            s.close()
        os.kill(pid, signal.SIGCONT)
    for out in (full, silent):
        assert out.returncode == 1
        assert out.stderr.startswith("ERROR: node demo did not answer"), out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert run(script, "pid").stdout == f"{pid}\n"


# --- after authentication: every frame authenticated --------------------------------------


class Relay:
    """A TCP proxy on 127.0.0.1 that may rewrite or repeat what passes through."""

    def __init__(self, target: int, edit: Callable[[str, bytes], list[bytes]]) -> None:
        self.target = target
        self.edit = edit
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.seen: list[bytes] = []
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target))
            self.socks += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, "up"), daemon=True).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, "down"), daemon=True
            ).start()

    def _pump(self, src: socket.socket, dst: socket.socket, direction: str) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 20):
                self.seen.append(data)
                for part in self.edit(direction, data):
                    dst.sendall(part)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        self.server.close()
        for s in self.socks:
            with contextlib.suppress(OSError):
                s.close()


@contextlib.contextmanager
def tcp_node(script: Path, extra: dict[str, str] | None = None) -> Iterator[tuple]:
    env = {"RELEASE_DISTRIBUTION": "name", "RELEASE_NODE": "demo@127.0.0.1",
           "RELEASE_DIST_PORT": str(free_port()), **(extra or {})}  # fmt: skip
    with node(script, {**env, "PORT": str(free_port())}) as n:
        n.wait_for("started in")
        yield n, env


@contextlib.contextmanager
def relayed(target: str, edit: Callable[[str, bytes], list[bytes]]) -> Iterator[Relay]:
    relay = Relay(int(target), edit)
    try:
        yield relay
    finally:
        relay.close()


def test_a_relay_that_rewrites_the_code_is_detected(script: Path, tmp_path: Path) -> None:
    good, evil = tmp_path / "good", tmp_path / "evil"

    def rewrite(direction: str, data: bytes) -> list[bytes]:
        return [data.replace(b"/good", b"/evil")]

    with tcp_node(script) as (n, env), relayed(env["RELEASE_DIST_PORT"], rewrite) as relay:
        out = run(script, "rpc", f"open({str(good)!r}, 'w')",
                  env={**env, "RELEASE_DIST_PORT": str(relay.port)})  # fmt: skip
        assert any(b"/good" in chunk for chunk in relay.seen)  # the relay saw the code
        assert out.returncode != 0, "the client reported success for rewritten code"
        assert not evil.exists() and not good.exists()
        assert "ERROR: " in out.stderr and "Traceback" not in out.stderr
        n.wait_for("failed its integrity check")
        assert run(script, "pid", env=env).stdout == f"{n.proc.pid}\n"


def test_a_relay_that_rewrites_the_output_is_detected(script: Path) -> None:
    def rewrite(direction: str, data: bytes) -> list[bytes]:
        return [data.replace(b"balance 100", b"balance 999") if direction == "down" else data]

    with tcp_node(script) as (n, env), relayed(env["RELEASE_DIST_PORT"], rewrite) as relay:
        out = run(script, "rpc", "print('balance 100')",
                  env={**env, "RELEASE_DIST_PORT": str(relay.port)})  # fmt: skip
        assert "999" not in out.stdout
        assert out.returncode == 1
        assert "integrity check" in out.stderr and "Traceback" not in out.stderr
        assert n.proc.poll() is None


def test_a_replayed_request_is_refused(script: Path, tmp_path: Path) -> None:
    counter = tmp_path / "count"

    def repeat(direction: str, data: bytes) -> list[bytes]:
        return [data, data] if direction == "up" and b'"op":"rpc"' in data else [data]

    with tcp_node(script) as (n, env), relayed(env["RELEASE_DIST_PORT"], repeat) as relay:
        run(script, "rpc", f"open({str(counter)!r}, 'a').write('x')",
            env={**env, "RELEASE_DIST_PORT": str(relay.port)})  # fmt: skip
        n.wait_for("failed its integrity check")
    assert counter.read_text() == "x"  # the code ran once, not twice


# --- TLS -----------------------------------------------------------------------------------


@needs_openssl
def test_tls_keeps_the_code_confidential(script: Path, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "node")
    tls = {"RELEASE_TLS_CERT": str(cert), "RELEASE_TLS_KEY": str(key), "RELEASE_TLS_CA": str(cert)}
    with (
        tcp_node(script, tls) as (n, env),
        relayed(env["RELEASE_DIST_PORT"], lambda d, data: [data]) as relay,
    ):
        via = {**env, "RELEASE_DIST_PORT": str(relay.port)}
        out = run(script, "rpc", "print('top' + 'secret')", env=via)
        assert (out.returncode, out.stdout) == (0, "topsecret\n"), out.stderr
        wire = b"".join(relay.seen)
        assert b"top" not in wire and b"topsecret" not in wire and b"pyrelease-node" not in wire
        assert run(script, "pid", env=env).stdout == f"{n.proc.pid}\n"
        # A client without TLS settings, or trusting another CA, is told so in one line.
        plain = {k: v for k, v in env.items() if not k.startswith("RELEASE_TLS")}
        out = run(script, "pid", env=plain, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "TLS" in out.stderr, out.stderr
        other, _ = make_cert(tmp_path, "other")
        out = run(script, "pid", env={**env, "RELEASE_TLS_CA": str(other)}, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "certificate" in out.stderr, out.stderr
        # The node has a CA, so it wants a client certificate signed by it.
        out = run(script, "pid", env={**plain, "RELEASE_TLS_CA": str(cert)}, timeout=120)
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "requires a client certificate" in out.stderr, out.stderr
        other_key = tmp_path / "other.key"
        out = run(script, "pid", timeout=120, env={
            **env, "RELEASE_TLS_CERT": str(other), "RELEASE_TLS_KEY": str(other_key)})  # fmt: skip
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "does not trust this side's certificate" in out.stderr, out.stderr
        assert n.proc.poll() is None


@needs_openssl
def test_tls_settings_in_vm_args_and_a_missing_file(script: Path, tmp_path: Path) -> None:
    cert, key = make_cert(tmp_path, "node")
    vm_args = tmp_path / "vm.args"
    vm_args.write_text(f"--tls-cert {cert}\n--tls-key {key}\n--tls-ca {cert}\n")
    with tcp_node(script, {"RELEASE_VM_ARGS": str(vm_args), "RELEASE_REMOTE_VM_ARGS": str(vm_args)}
                  ) as (n, env):  # fmt: skip
        assert run(script, "pid", env=env).stdout == f"{n.proc.pid}\n"
        plain = {k: v for k, v in env.items() if k != "RELEASE_REMOTE_VM_ARGS"}
        assert run(script, "pid", env=plain, timeout=120).returncode == 1
    env = {"RELEASE_DISTRIBUTION": "name", "RELEASE_NODE": "demo@127.0.0.1",
           "RELEASE_TLS_CERT": str(tmp_path / "missing.pem"), "RELEASE_TLS_KEY": str(key),
           "PORT": str(free_port())}  # fmt: skip
    with node(script, env) as n:
        assert n.wait(60) == 1
        assert "missing.pem" in n.output() and "Traceback" not in n.output(), n.output()


# --- output larger than a frame -------------------------------------------------------------


def test_rpc_output_over_16_mib_is_delivered_whole(script: Path, running) -> None:
    size = 17 * 1024 * 1024
    out = subprocess.run(
        [str(script), "rpc", f"print('é' * {size // 2} + 'x' * {size - size // 2})"],
        capture_output=True, env={k: v for k, v in os.environ.items()
                                  if not k.startswith("RELEASE_")}, timeout=120,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stderr == b""
    text = out.stdout.decode()
    assert len(text) == size + 1 and text.endswith("x\n") and text.startswith("éé")
