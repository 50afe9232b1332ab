"""TCP connections on ``_socket``, for the node's readiness checks and the management client.

``socket.create_connection`` would import ``socket``, which builds ``enum``
classes for hundreds of constants and imports ``selectors``: about 10 ms of
CPU. The readiness check polls while the command's server starts, on the same
cores, and a management command should answer in a few milliseconds; both
need only a connected descriptor. A host given as ASCII text is passed as
bytes, so that no ``idna`` codec (``stringprep``, ``unicodedata``) is loaded.
"""

import _socket
import time

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from socket import socket as Socket


def connect(
    host: str, port: int, *, timeout: "float | None" = None, deadline: "float | None" = None
) -> "_socket.socket":
    """A TCP connection to ``host:port``, trying each address ``getaddrinfo`` gives in
    turn as ``socket.create_connection`` does, each for ``timeout`` seconds or until
    ``deadline`` (``time.monotonic()``); the last address's error when none connects.
    The socket keeps that timeout."""
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = None
        try:
            sock = _socket.socket(family, kind, proto)
            if deadline is not None:
                sock.settimeout(max(deadline - time.monotonic(), 0.01))
            else:
                sock.settimeout(timeout)
            sock.connect(address)
            return sock
        except OSError as exc:  # (a family the kernel lacks too: the next address)
            if sock is not None:
                sock.close()
            error = exc
    raise error or OSError(f"{host} has no address")


def full_socket(sock: "_socket.socket") -> "Socket":
    """``sock`` as a ``socket.socket`` with the same timeout, what ``ssl`` wraps (imports
    ``socket``: for TLS only)."""
    import socket

    if isinstance(sock, socket.socket):
        return sock
    timeout = sock.gettimeout()
    full = socket.socket(sock.family, sock.type, sock.proto, sock.detach())
    full.settimeout(timeout)  # a socket made from a descriptor would block
    return full
