"""Readiness checks of command applications against real sockets and HTTP servers on
127.0.0.1 (and ::1 where the machine has it): what passes, what does not, and what the
message says when it does not."""

from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import make_cert, needs_openssl
from pyrelease.node import readiness


class Handler(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list[tuple[str, str | None]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host")))
        body = b"x" * 10000  # more than one read of the status line
        self.send_response(self.server.status)  # type: ignore[attr-defined]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.status = 200  # type: ignore[attr-defined]
    Handler.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def never_gone() -> None:
    return None


def test_http_check_passes_on_a_success_and_sends_path_and_host(server) -> None:
    port = server.server_address[1]
    check = readiness.parse(f"http://127.0.0.1:{port}/health?full=1")
    readiness.wait(check, 10, never_gone)
    assert Handler.seen[-1] == ("/health?full=1", f"127.0.0.1:{port}")


def test_http_check_does_not_pass_on_an_error_status_and_says_which(server) -> None:
    server.status = 503
    check = readiness.parse(f"http://127.0.0.1:{server.server_address[1]}/")
    with pytest.raises(readiness.NotReady, match=r"not ready after 0\.3s: .*it answered 503"):
        readiness.wait(check, 0.3, never_gone)
    assert len(Handler.seen) >= 2  # polled again, not given up after one answer


def test_http_check_passes_once_the_server_comes_up_late() -> None:
    port = free_port()
    httpd: list[http.server.ThreadingHTTPServer] = []

    def late() -> None:
        time.sleep(0.3)
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        srv.status = 200  # type: ignore[attr-defined]
        httpd.append(srv)
        srv.serve_forever()

    thread = threading.Thread(target=late, daemon=True)
    thread.start()
    try:
        readiness.wait(readiness.parse(f"http://127.0.0.1:{port}/"), 30, never_gone)
    finally:
        while not httpd:
            time.sleep(0.01)
        httpd[0].shutdown()
        httpd[0].server_close()
        thread.join()


def test_http_check_refuses_a_server_that_does_not_speak_http() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    return
                with conn:
                    conn.recv(1024)
                    conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")

        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        check = readiness.parse(f"http://127.0.0.1:{port}/")
        with pytest.raises(readiness.NotReady, match=r"did not answer HTTP .*SSH-2\.0"):
            readiness.wait(check, 0.3, never_gone)
        listener.shutdown(socket.SHUT_RDWR)
    thread.join(5)


def test_http_check_against_a_silent_server_is_bounded_by_the_timeout() -> None:
    with socket.socket() as listener:  # accepts (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        check = readiness.parse(f"http://127.0.0.1:{port}/")
        began = time.monotonic()
        with pytest.raises(readiness.NotReady, match="timed out"):
            readiness.wait(check, 0.5, never_gone)
        assert time.monotonic() - began < 30  # a deadline, not a measurement


def test_tcp_and_http_checks_say_when_nothing_listens() -> None:
    port = free_port()
    for spec in (f"tcp://127.0.0.1:{port}", f"http://localhost:{port}/"):
        with pytest.raises(readiness.NotReady, match=r"did not pass \(Connection refused\)"):
            readiness.wait(readiness.parse(spec), 0.2, never_gone)


def test_checks_work_on_ipv6_loopback() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")

    class V6(http.server.ThreadingHTTPServer):
        address_family = socket.AF_INET6

    try:
        httpd = V6(("::1", 0), Handler)
    except OSError:
        pytest.skip("::1 is not configured on this machine")
    httpd.status = 200  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        port = httpd.server_address[1]
        readiness.wait(readiness.parse(f"tcp://[::1]:{port}"), 10, never_gone)
        readiness.wait(readiness.parse(f"http://[::1]:{port}/"), 10, never_gone)
        assert Handler.seen[-1] == ("/", f"[::1]:{port}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_the_child_going_away_ends_the_wait_with_its_reason() -> None:
    check = readiness.parse(f"tcp://127.0.0.1:{free_port()}")
    with pytest.raises(readiness.NotReady, match="exited with status 3"):
        readiness.wait(check, 30, lambda: "exited with status 3 before it was ready")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http://127.0.0.1:8000/a b", "the path has a space or a control character"),
        ("http://127.0.0.1:8000/x\r\nX-Injected: 1", "the path has a space or a control"),
        ("http://bücher.example:8000/", "give the host as an address or an ASCII"),
        ("tcp://127.0.0.1", "a tcp check needs a port"),
        ("ftp://127.0.0.1:21/", "is not a readiness check"),
    ],
)
def test_a_bad_check_is_refused_with_one_sentence(spec: str, message: str) -> None:
    with pytest.raises(readiness.NotReady, match=message):
        readiness.parse(spec)


def test_polling_loads_no_socket_module(tmp_path: Path) -> None:
    """A check is polled in the node while the command starts (and, for a command
    started before the boot, before the node's own imports): it works on ``_socket``,
    so that polling does not build ``socket``'s and ``enum``'s classes (about 10 ms of
    CPU) on the cores the starting server needs."""
    import subprocess
    import sys

    code = """
import sys, threading, http.server, socketserver
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
httpd = http.server.HTTPServer(("127.0.0.1", 0), H)
port = httpd.server_address[1]
threading.Thread(target=httpd.serve_forever, daemon=True).start()
# Forget what the server loaded, so that what the checks load shows.
for name in set(sys.modules) - before:
    del sys.modules[name]
from pyrelease.node import readiness
for spec in (f"tcp://127.0.0.1:{port}", f"http://127.0.0.1:{port}/", f"http://localhost:{port}/"):
    readiness.wait(readiness.parse(spec), 10, lambda: None)
print(sorted({"socket", "enum", "selectors", "encodings.idna"} & set(sys.modules)))
httpd.shutdown()
"""
    package = Path(readiness.__file__).parents[2]  # the folder holding pyrelease
    code = f"import sys\nbefore = set(sys.modules)\nsys.path.insert(0, {str(package)!r})\n" + code
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]", out.stdout


@needs_openssl
def test_https_check_verifies_the_certificate(tmp_path: Path, monkeypatch) -> None:
    """``https://`` is checked as a client would: a certificate the system does not
    trust fails the check and says so; trusted (here through ``SSL_CERT_FILE``) it passes."""
    import ssl

    cert, key = make_cert(tmp_path, "localhost")
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.status = 200  # type: ignore[attr-defined]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    Handler.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        spec = f"https://127.0.0.1:{httpd.server_address[1]}/health"
        monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "no-such-ca.pem"))
        monkeypatch.setenv("SSL_CERT_DIR", str(tmp_path))
        with pytest.raises(readiness.NotReady, match="certificate verify failed"):
            readiness.wait(readiness.parse(spec), 0.3, never_gone)
        assert Handler.seen == []  # nothing sent to a server that is not trusted
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        readiness.wait(readiness.parse(spec), 10, never_gone)
        assert Handler.seen[-1] == ("/health", f"127.0.0.1:{httpd.server_address[1]}")
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_https_check_against_a_silent_server_is_bounded_by_the_timeout() -> None:
    """A port that accepts connections (the kernel's backlog) and never answers the TLS
    handshake fails the check at its timeout: the poll must not wait for ever."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        check = readiness.parse(f"https://127.0.0.1:{listener.getsockname()[1]}/")
        failures: list[BaseException] = []

        def poll() -> None:
            try:
                readiness.wait(check, 0.3, never_gone)
            except BaseException as exc:  # the thread reports what ended it
                failures.append(exc)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        thread.join(30)  # a bound, not a measurement: each poll waits 2 s at most
        assert not thread.is_alive(), "the https poll is still waiting"
        [failure] = failures
        assert isinstance(failure, readiness.NotReady) and "timed out" in str(failure)
