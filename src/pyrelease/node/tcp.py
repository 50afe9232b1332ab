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


def connect(host: str, port: int, deadline: float) -> "_socket.socket":
    """A TCP connection to ``host:port`` by ``deadline`` (``time.monotonic()``): each
    address ``getaddrinfo`` gives in turn, as ``socket.create_connection`` tries them;
    the last address's error when none connects."""
    name: str | bytes = host.encode("ascii") if host.isascii() else host
    error: OSError | None = None
    for family, kind, proto, _, address in _socket.getaddrinfo(name, port, 0, _socket.SOCK_STREAM):
        sock = _socket.socket(family, kind, proto)
        try:
            sock.settimeout(max(deadline - time.monotonic(), 0.01))
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error or OSError(f"{host} has no address")


def full_socket(sock: "_socket.socket") -> "Socket":
    """``sock`` as a ``socket.socket``, what ``ssl`` wraps (imports ``socket``: for TLS only)."""
    import socket

    if isinstance(sock, socket.socket):
        return sock
    return socket.socket(sock.family, sock.type, sock.proto, sock.detach())
