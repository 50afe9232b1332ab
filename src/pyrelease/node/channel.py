"""The control channel's wire format, address and handshake (both ends).

Frames are a 4-byte big-endian length followed by a UTF-8 JSON object
(``jsonframe``); a frame over its limit, or one that is not a JSON object,
closes the connection.

Before authentication everything is bounded: frames are at most
``MAX_HANDSHAKE_FRAME`` bytes (the length prefix is checked before anything is
read), the whole handshake has ``HANDSHAKE_TIMEOUT`` seconds, and the node
holds at most ``MAX_UNAUTHENTICATED`` such connections (so at most
``MAX_UNAUTHENTICATED * (4 + MAX_HANDSHAKE_FRAME)`` bytes) at once.

Authentication is mutual challenge-response with HMAC-SHA256 keyed by the
cookie: the cookie never crosses the wire, a fresh random challenge per
connection makes a replayed exchange useless, and the client checks that the
node knows the cookie too before sending it any code. Both challenges and the
cookie then give a session key, and every later frame carries an HMAC-SHA256
tag over its direction, its sequence number and its bytes (:class:`Session`):
a frame altered, dropped, replayed or reordered on the way closes the
connection.

Addresses (``RELEASE_DISTRIBUTION``):

* ``sname`` (default): a Unix socket ``$RELEASE_TMP/sockets/NODE.sock`` in a
  0700 directory, so only the release's user can reach it;
* ``name``: TCP on the host of ``RELEASE_NODE=name@host``, port
  ``RELEASE_DIST_PORT`` (fixed, for other hosts) or an ephemeral one written to
  ``$RELEASE_TMP/sockets/NODE.port`` (same host); optionally TLS (``tlsconfig``);
* ``none``: no channel.
"""

import _thread
import time

from pyrelease.node import hmacsha, jsonframe
from pyrelease.node.liteos import os
from pyrelease.node.releaseenv import Env

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    import socket
    from typing import Any

MAX_FRAME = 16 * 1024 * 1024  # after authentication
MAX_HANDSHAKE_FRAME = 1024  # before: the largest handshake frame is under 300 bytes
MAX_UNAUTHENTICATED = 16  # connections the node holds before they authenticate
HANDSHAKE_TIMEOUT = 5.0  # seconds for the node's whole handshake, TLS included
CLIENT_TIMEOUT = 10.0  # seconds a management command waits to connect, or for a prompt reply
OUTPUT_CHUNK = 256 * 1024  # characters of rpc/remote output per frame (<= 1.5 MiB as JSON)
TAG_SIZE = 32
PROTOCOL = "pyrelease-node/2"
# sun_path holds 108 bytes on Linux; longer paths are reached relative to their folder.
MAX_UNIX_PATH = 100


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


class IntegrityError(ProtocolError):
    """A frame failed its integrity check: altered, replayed or reordered on the way."""


class Refused(Exception):
    """Authentication failed (wrong cookie, or the peer could not prove it knows it)."""


class Busy(Exception):
    """The node holds as many unauthenticated connections as it allows; try again."""


class Session:
    """An authenticated connection: every frame is tagged with the session key.

    The tag is HMAC-SHA256 over the sender's role, the frame's sequence number
    in that direction and the frame's bytes, so a frame cannot be altered,
    replayed, reordered, dropped or reflected back. Use :func:`send` and
    :func:`recv` for frames; other attributes (``settimeout``, ``recv`` of raw
    bytes, ``close``...) are the socket's own.
    """

    def __init__(self, sock: "socket.socket", key: bytes, role: str) -> None:
        self.sock = sock
        self._key = key
        self._out, self._in = (b"N", b"C") if role == "node" else (b"C", b"N")
        self._sent = self._received = 0
        self._lock = _thread.allocate_lock()  # output may come from several threads

    def __getattr__(self, name: str) -> "Any":
        return getattr(self.sock, name)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _tag(self, direction: bytes, seq: int, frame: bytes) -> bytes:
        return hmacsha.digest(self._key, direction + seq.to_bytes(8, "big") + frame)

    def send_frame(self, obj: "dict[str, Any]") -> None:
        """Send one tagged frame."""
        data = jsonframe.encode(obj)
        frame = len(data).to_bytes(4, "big") + data
        with self._lock:
            self.sock.sendall(frame + self._tag(self._out, self._sent, frame))
            self._sent += 1

    def recv_frame(self, limit: int = MAX_FRAME) -> "dict[str, Any]":
        """Receive one frame and check its tag; :class:`IntegrityError` when it fails."""
        header = _recv_exact(self.sock, 4)
        size = int.from_bytes(header, "big")
        if size > limit:
            raise ProtocolError(f"frame of {size} bytes is over the {limit} limit")
        frame = header + _recv_exact(self.sock, size)
        tag = _recv_exact(self.sock, TAG_SIZE)
        if not hmacsha.compare_digest(tag, self._tag(self._in, self._received, frame)):
            raise IntegrityError(
                "a frame failed its integrity check (altered, replayed or reordered on the way)"
            )
        self._received += 1
        return _decode(frame[4:])


def send(sock: "socket.socket | Session", obj: "dict[str, Any]") -> None:
    """Send one frame (tagged when ``sock`` is a :class:`Session`)."""
    if isinstance(sock, Session):
        sock.send_frame(obj)
        return
    data = jsonframe.encode(obj)
    sock.sendall(len(data).to_bytes(4, "big") + data)


def _recv_exact(sock: "socket.socket", size: int, deadline: float | None = None) -> bytes:
    chunks, remaining = [], size
    while remaining:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("timed out")
            sock.settimeout(left)
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _decode(data: bytes) -> "dict[str, Any]":
    try:
        obj = jsonframe.decode(data)
    except (ValueError, RecursionError):  # RecursionError: deeply nested hostile input
        raise ProtocolError("frame is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame is not a JSON object")
    return obj


def recv(
    sock: "socket.socket | Session", limit: int = MAX_FRAME, deadline: float | None = None
) -> "dict[str, Any]":
    """Receive one frame; ``EOFError`` when the peer closed, ``ProtocolError`` on garbage.

    The length prefix is checked against ``limit`` before the frame is read;
    ``deadline`` (a ``time.monotonic()`` value) bounds the whole read.
    """
    if isinstance(sock, Session):
        return sock.recv_frame(limit)
    size = int.from_bytes(_recv_exact(sock, 4, deadline), "big")
    if size > limit:
        raise ProtocolError(f"frame of {size} bytes is over the {limit} limit")
    return _decode(_recv_exact(sock, size, deadline))


def mac(cookie: str, role: str, challenge: str) -> str:
    """The proof that ``role`` knows the cookie, bound to one challenge."""
    message = f"{PROTOCOL} {role} {challenge}".encode()
    return hmacsha.digest(cookie.encode(), message).hex()


def session_key(cookie: str, node_challenge: str, client_challenge: str) -> bytes:
    """The key that tags a session's frames: fresh for every connection."""
    message = f"{PROTOCOL} session {node_challenge} {client_challenge}".encode()
    return hmacsha.digest(cookie.encode(), message)


def _send_before(sock: "socket.socket", obj: "dict[str, Any]", deadline: float) -> None:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    sock.settimeout(left)
    send(sock, obj)


def server_handshake(sock: "socket.socket", cookie: str, deadline: float) -> "Session | None":
    """Authenticate a client within ``deadline``; send ``refused`` and return None on failure.

    Before authentication the peer learns nothing but the protocol name and a
    random challenge, and may send one frame of at most ``MAX_HANDSHAKE_FRAME`` bytes.
    """
    challenge = os.urandom(32).hex()
    _send_before(sock, {"hello": PROTOCOL, "challenge": challenge}, deadline)
    reply = recv(sock, MAX_HANDSHAKE_FRAME, deadline)
    response, theirs = reply.get("response"), reply.get("challenge")
    if not (
        isinstance(response, str)
        and isinstance(theirs, str)
        and len(theirs) == 64
        and hmacsha.compare_digest(response, mac(cookie, "client", challenge))
    ):
        _send_before(sock, {"error": "refused"}, deadline)
        return None
    pid = os.getpid()
    _send_before(sock, {"ok": True, "proof": mac(cookie, "node", f"{theirs}:{pid}"), "pid": pid},
                 deadline)  # fmt: skip
    return Session(sock, session_key(cookie, challenge, theirs), "node")


def client_handshake(
    sock: "socket.socket", cookie: str, deadline: float
) -> "tuple[Session, dict[str, Any]]":
    """Authenticate to a node and check its proof; return the session and its welcome frame."""
    hello = recv(sock, MAX_HANDSHAKE_FRAME, deadline)
    if hello.get("error") == "busy":
        raise Busy("the node is busy with other connections")
    if hello.get("hello") != PROTOCOL or not isinstance(hello.get("challenge"), str):
        raise ProtocolError("the peer does not speak the pyrelease node protocol")
    ours = os.urandom(32).hex()
    _send_before(
        sock, {"response": mac(cookie, "client", hello["challenge"]), "challenge": ours}, deadline
    )
    welcome = recv(sock, MAX_HANDSHAKE_FRAME, deadline)
    if "error" in welcome:
        raise Refused("the cookie does not match")
    proof = welcome.get("proof")
    expected = mac(cookie, "node", f"{ours}:{welcome.get('pid')}")
    if not isinstance(proof, str) or not hmacsha.compare_digest(proof, expected):
        raise Refused("the node could not prove it knows the cookie")
    return Session(sock, session_key(cookie, hello["challenge"], ours), "client"), welcome


def busy(sock: "socket.socket") -> None:
    """Tell a connection the node will not take it now, without waiting for the peer."""
    try:
        sock.setblocking(False)
        send(sock, {"error": "busy"})
    except OSError:
        pass
    finally:
        sock.close()


def sockets_dir(env: "Env") -> str:
    """``$RELEASE_TMP/sockets``, created private (0700), in a ``RELEASE_TMP`` no other
    user can tamper with (``safefiles.UnsafePath`` otherwise)."""
    from pyrelease.node import safefiles

    safefiles.check_tmp(env.tmp)
    return safefiles.private_dir(os.path.join(env.tmp, "sockets"))


def unix_path(env: "Env") -> str:
    """The Unix socket of an ``sname`` node."""
    return os.path.join(env.tmp, "sockets", f"{env.node_name}.sock")


def port_file(env: "Env") -> str:
    """Where a ``name`` node with an ephemeral port writes it."""
    return os.path.join(env.tmp, "sockets", f"{env.node_name}.port")


def _with_short_path(path: str, action: "Any") -> None:
    if len(path.encode()) <= MAX_UNIX_PATH:
        action(path)
        return
    saved = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        action(os.path.basename(path))
    finally:
        os.chdir(saved)


def bind_unix(sock: "socket.socket", path: str) -> None:
    """Bind to ``path`` even when it is longer than ``sun_path`` allows."""
    _with_short_path(path, sock.bind)


def connect_unix(sock: "socket.socket", path: str) -> None:
    """Connect to ``path`` even when it is longer than ``sun_path`` allows."""
    _with_short_path(path, sock.connect)
