"""The control channel's wire format, address and handshake (both ends).

Frames are a 4-byte big-endian length followed by a UTF-8 JSON object; a frame
over ``MAX_FRAME`` bytes or one that is not a JSON object closes the
connection. Authentication is mutual challenge-response with HMAC-SHA256 keyed
by the cookie: the cookie never crosses the wire, a fresh random challenge per
connection makes a replayed exchange useless, and the client checks that the
node knows the cookie too before sending it any code.

Addresses (``RELEASE_DISTRIBUTION``):

* ``sname`` (default): a Unix socket ``$RELEASE_TMP/sockets/NODE.sock`` in a
  0700 directory, so only the release's user can reach it;
* ``name``: TCP on the host of ``RELEASE_NODE=name@host``, port
  ``RELEASE_DIST_PORT`` (fixed, for other hosts) or an ephemeral one written to
  ``$RELEASE_TMP/sockets/NODE.port`` (same host);
* ``none``: no channel.
"""

from __future__ import annotations

import json
import os
import socket

from pyrelease.node.releaseenv import Env

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

MAX_FRAME = 16 * 1024 * 1024
PROTOCOL = "pyrelease-node/1"
HANDSHAKE_TIMEOUT = 5.0
# sun_path holds 108 bytes on Linux; longer paths are reached relative to their folder.
MAX_UNIX_PATH = 100


class ProtocolError(Exception):
    """The peer sent something that is not a valid frame."""


class Refused(Exception):
    """Authentication failed (wrong cookie, or the peer could not prove it knows it)."""


def send(sock: socket.socket, obj: dict[str, Any]) -> None:
    """Send one frame."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(len(data).to_bytes(4, "big") + data)


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    chunks, remaining = [], size
    while remaining:
        chunk = sock.recv(min(remaining, 65536))
        if not chunk:
            raise EOFError("connection closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def recv(sock: socket.socket) -> dict[str, Any]:
    """Receive one frame; ``EOFError`` when the peer closed, ``ProtocolError`` on garbage."""
    size = int.from_bytes(_recv_exact(sock, 4), "big")
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is over the {MAX_FRAME} limit")
    try:
        obj = json.loads(_recv_exact(sock, size))
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("frame is not JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError("frame is not a JSON object")
    return obj


def mac(cookie: str, role: str, challenge: str) -> str:
    """The proof that ``role`` knows the cookie, bound to one challenge."""
    import hashlib
    import hmac

    message = f"{PROTOCOL} {role} {challenge}".encode()
    return hmac.new(cookie.encode(), message, hashlib.sha256).hexdigest()


def server_handshake(sock: socket.socket, cookie: str) -> bool:
    """Authenticate a client; send ``refused`` and return False when it fails.

    Before authentication the peer learns nothing but the protocol name and a
    random challenge.
    """
    import hmac

    challenge = os.urandom(32).hex()
    send(sock, {"hello": PROTOCOL, "challenge": challenge})
    reply = recv(sock)
    response, theirs = reply.get("response"), reply.get("challenge")
    if not (
        isinstance(response, str)
        and isinstance(theirs, str)
        and len(theirs) == 64
        and hmac.compare_digest(response, mac(cookie, "client", challenge))
    ):
        send(sock, {"error": "refused"})
        return False
    send(sock, {"ok": True, "proof": mac(cookie, "node", theirs), "pid": os.getpid()})
    return True


def client_handshake(sock: socket.socket, cookie: str) -> dict[str, Any]:
    """Authenticate to a node and check its proof; return its welcome frame."""
    hello = recv(sock)
    if hello.get("hello") != PROTOCOL or not isinstance(hello.get("challenge"), str):
        raise ProtocolError("the peer does not speak the pyrelease node protocol")
    import hmac

    ours = os.urandom(32).hex()
    send(sock, {"response": mac(cookie, "client", hello["challenge"]), "challenge": ours})
    welcome = recv(sock)
    if "error" in welcome:
        raise Refused("the cookie does not match")
    proof = welcome.get("proof")
    if not isinstance(proof, str) or not hmac.compare_digest(proof, mac(cookie, "node", ours)):
        raise Refused("the node could not prove it knows the cookie")
    return welcome


def sockets_dir(env: Env) -> str:
    """``$RELEASE_TMP/sockets``, created private (0700), in a ``RELEASE_TMP`` no other
    user can tamper with (``safefiles.UnsafePath`` otherwise)."""
    from pyrelease.node import safefiles

    safefiles.check_tmp(env.tmp)
    return safefiles.private_dir(os.path.join(env.tmp, "sockets"))


def unix_path(env: Env) -> str:
    """The Unix socket of an ``sname`` node."""
    return os.path.join(env.tmp, "sockets", f"{env.node_name}.sock")


def port_file(env: Env) -> str:
    """Where a ``name`` node with an ephemeral port writes it."""
    return os.path.join(env.tmp, "sockets", f"{env.node_name}.port")


def _with_short_path(path: str, action: Any) -> None:
    if len(path.encode()) <= MAX_UNIX_PATH:
        action(path)
        return
    saved = os.getcwd()
    os.chdir(os.path.dirname(path))
    try:
        action(os.path.basename(path))
    finally:
        os.chdir(saved)


def bind_unix(sock: socket.socket, path: str) -> None:
    """Bind to ``path`` even when it is longer than ``sun_path`` allows."""
    _with_short_path(path, sock.bind)


def connect_unix(sock: socket.socket, path: str) -> None:
    """Connect to ``path`` even when it is longer than ``sun_path`` allows."""
    _with_short_path(path, sock.connect)
