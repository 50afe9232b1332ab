"""systemd-style readiness notification (``NOTIFY_SOCKET``).

``bin/NAME start`` under ``Type=notify`` sends ``READY=1`` once every
application has started and ``STOPPING=1`` when it begins to shut down. The
daemon supervisor uses the same mechanism to learn whether a detached node
came up. A name starting with ``@`` is a Linux abstract socket.
"""

from __future__ import annotations

import os


def notify(message: str) -> bool:
    """Send ``message`` to ``$NOTIFY_SOCKET``; return False when there is none or it fails."""
    path = os.environ.get("NOTIFY_SOCKET")
    if not path:
        return False
    import socket  # only when a service manager asked for notifications

    address = "\0" + path[1:] if path.startswith("@") else path
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.connect(address)
            sock.sendall(message.encode())
    except OSError:
        return False
    return True
