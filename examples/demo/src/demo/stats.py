"""Request statistics, kept in the running node (read them with `bin/demo rpc`)."""

import threading

_lock = threading.Lock()
_served = 0


def record_request() -> None:
    """Count one served request (called by the HTTP handler)."""
    global _served
    with _lock:
        _served += 1


def connected() -> int:
    """How many requests this node has served since it started."""
    with _lock:
        return _served
