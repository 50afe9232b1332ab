"""Readiness checks of a command application: when is the child serving?

``ready`` is one of:

* ``"started"``: as soon as the child is running;
* ``"tcp://HOST:PORT"``: once a TCP connection to HOST:PORT succeeds;
* ``"http://HOST:PORT/PATH"`` (or ``https://``): once a GET answers with a
  status below 400;
* ``"notify"``: once the child sends ``READY=1`` to the ``NOTIFY_SOCKET`` it is
  given (systemd's protocol; gunicorn, uvicorn with sd_notify, any program
  speaking it).

Each check is polled by :func:`wait` with a deadline; the node never waits longer
than ``ready_timeout`` and says which check did not pass.

Polls connect with ``tcp`` (on ``_socket``: no ``socket`` module; an
``https://`` check loads ``ssl``, and with it ``socket``), imported at the first
poll: :func:`parse` runs in the node before it starts the command
(see ``earlystart``), and loading ``_socket``'s shared library (0.7 ms) can
wait until the command runs.
"""

from __future__ import annotations

import os
import time

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable

POLL = 0.05  # the longest pause between attempts: a fraction of any server's start-up
FIRST_POLL = 0.005  # the first pause; doubled after each failed attempt up to POLL
STATUS_LINE_MAX = 4096  # bytes read from an answer to find its status line


class NotReady(Exception):
    """The check did not pass; the message says what was tried and why it failed."""


class Check:
    """One readiness check; :meth:`poll` is True once it passes."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        self.last_error = "not tried yet"

    def environ(self) -> dict[str, str]:
        """Variables the child needs for this check (``NOTIFY_SOCKET``)."""
        return {}

    def poll(self, remaining: float) -> bool:
        return True

    def close(self) -> None:
        """Release what the check holds (the notify socket)."""


class TcpCheck(Check):
    def __init__(self, spec: str, host: str, port: int) -> None:
        super().__init__(spec)
        self.host, self.port = host, port

    def poll(self, remaining: float) -> bool:
        from pyrelease.node import tcp  # at the first poll (see the module's docstring)

        try:
            tcp.connect(self.host, self.port, timeout=min(1.0, remaining)).close()
            return True
        except OSError as exc:
            self.last_error = exc.strerror or str(exc)
            return False


class HttpCheck(Check):
    """``GET PATH`` with one small request; the status line of the answer decides.

    Written on a socket rather than with ``http.client``, which imports the
    ``email`` package and ``ssl`` (tens of milliseconds of CPU in the node while
    the child starts); ``ssl`` is imported only for an ``https://`` check.
    """

    def __init__(self, spec: str, https: bool, host: str, port: int, path: str) -> None:
        super().__init__(spec)
        self.https, self.host, self.port, self.path = https, host, port, path or "/"
        hostname = f"[{host}]" if ":" in host else host
        default = 443 if https else 80
        authority = hostname if port == default else f"{hostname}:{port}"
        self.request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {authority}\r\n"
            "User-Agent: pyrelease-readiness\r\nAccept: */*\r\nConnection: close\r\n\r\n"
        ).encode("latin-1")

    def poll(self, remaining: float) -> bool:
        timeout = min(2.0, max(remaining, 0.1))
        try:
            status = self._status(timeout)
        except OSError as exc:
            self.last_error = exc.strerror or str(exc) or type(exc).__name__
            return False
        except ValueError as exc:
            self.last_error = str(exc)
            return False
        if status >= 400:
            self.last_error = f"it answered {status}"
            return False
        return True

    def _status(self, timeout: float) -> int:
        """The status code of the answer to one GET (at most ``STATUS_LINE_MAX`` bytes read)."""
        from pyrelease.node import tcp  # at the first poll (see the module's docstring)

        sock = tcp.connect(self.host, self.port, timeout=timeout)
        try:
            if self.https:
                import ssl  # only for an https check

                # Verified as http.client would: the system's CAs, the host's name.
                context = ssl.create_default_context()
                sock = context.wrap_socket(tcp.full_socket(sock), server_hostname=self.host)
            sock.sendall(self.request)
            head = b""
            while b"\n" not in head and len(head) < STATUS_LINE_MAX:
                chunk = sock.recv(STATUS_LINE_MAX - len(head))
                if not chunk:
                    break
                head += chunk
        finally:
            sock.close()
        line = head.split(b"\n", 1)[0].rstrip(b"\r")
        parts = line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            shown = line[:60].decode("latin-1") if line else "nothing"
            raise ValueError(f"it did not answer HTTP (got {shown!r})")
        return int(parts[1])


class NotifyCheck(Check):
    """A private datagram socket; the child gets its name in ``NOTIFY_SOCKET``."""

    def __init__(self, spec: str, tmp: str) -> None:
        super().__init__(spec)
        import _socket  # (see tcp: no socket module)

        self.sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_DGRAM)
        tag = f"pyrelease-{os.getpid()}-{time.monotonic_ns()}"
        if os.uname().sysname == "Linux":  # an abstract name: no file, nothing to clean up
            self.name, address = "@" + tag, "\0" + tag
        else:
            self.name = address = os.path.join(tmp, tag + ".notify")
        self.sock.bind(address)
        self.path = None if address.startswith("\0") else address
        self.last_error = "no READY=1 received"

    def environ(self) -> dict[str, str]:
        return {"NOTIFY_SOCKET": self.name}

    def poll(self, remaining: float) -> bool:
        self.sock.settimeout(max(0.001, min(remaining, POLL)))
        try:
            while True:
                data = self.sock.recv(4096)
                if b"READY=1" in data.split(b"\n"):
                    return True
        except (TimeoutError, BlockingIOError):
            return False

    def close(self) -> None:
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except OSError:
                pass


def parse(spec: str, tmp: str = "") -> Check:
    """The check for a ``ready`` value (``${VAR}`` already expanded)."""
    if spec == "started":
        return Check(spec)
    if spec == "notify":
        return NotifyCheck(spec, tmp)
    scheme, sep, rest = spec.partition("://")
    if sep and scheme in ("tcp", "http", "https"):
        hostport, _, path = rest.partition("/")
        host, colon, port = hostport.rpartition(":")
        if not colon:
            host, port = hostport, "443" if scheme == "https" else "80"
        host = host.strip("[]")
        if scheme == "tcp" and not colon:
            raise NotReady(f"ready = {spec!r}: a tcp check needs a port (tcp://HOST:PORT)")
        if host and port.isdigit() and 0 < int(port) < 65536:
            if scheme == "tcp":
                return TcpCheck(spec, host, int(port))
            if not host.isascii():
                raise NotReady(
                    f"ready = {spec!r}: give the host as an address or an ASCII (punycode) name"
                )
            if any(c <= " " or c == "\x7f" for c in path):
                raise NotReady(
                    f"ready = {spec!r}: the path has a space or a control character; "
                    "percent-encode it (%20)"
                )
            return HttpCheck(spec, scheme == "https", host, int(port), "/" + path)
    raise NotReady(
        f'ready = {spec!r} is not a readiness check; use "started", "notify", '
        '"tcp://HOST:PORT" or "http://HOST:PORT/PATH"'
    )


def wait(check: Check, timeout: float, gone: Callable[[], str | None]) -> None:
    """Poll ``check`` until it passes; raise :class:`NotReady` when ``gone()`` says why the
    child cannot become ready, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL  # short at first: many servers answer within a few tens of ms
    while True:
        why = gone()
        if why is not None:
            raise NotReady(why)
        remaining = deadline - time.monotonic()
        if check.poll(max(remaining, 0.001)):
            return
        if time.monotonic() >= deadline:
            raise NotReady(
                f"not ready after {timeout:g}s: the check {check.spec} did not pass "
                f"({check.last_error}); raise ready_timeout if it needs longer"
            )
        if not isinstance(check, NotifyCheck):  # a notify check waits in its poll
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, POLL)
