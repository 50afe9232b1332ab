"""Route ``sys.stdout``/``sys.stderr`` per thread.

Code run by ``rpc`` or ``remote`` prints to the caller while every other
thread of the node keeps writing to the node's log. The node installs one
:class:`Router` per stream at boot; a thread that serves a request sets its
target for the duration of the request.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any, TextIO

_local = threading.local()


class Router:
    """A text stream that writes to the current thread's target, else to ``fallback``."""

    def __init__(self, name: str, fallback: TextIO) -> None:
        self._name = name
        self._fallback = fallback

    def write(self, text: str) -> int:
        target = getattr(_local, "target", None)
        if target is None:
            return self._fallback.write(text)
        target(self._name, text)
        return len(text)

    def flush(self) -> None:
        if getattr(_local, "target", None) is None:
            self._fallback.flush()

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._fallback, attr)


def install() -> None:
    """Put routers in front of ``sys.stdout`` and ``sys.stderr`` (idempotent)."""
    if not isinstance(sys.stdout, Router):
        sys.stdout = Router("stdout", sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, Router):
        sys.stderr = Router("stderr", sys.stderr)  # type: ignore[assignment]


@contextmanager
def redirected(target: Callable[[str, str], None]) -> Iterator[None]:
    """Send this thread's output to ``target(stream, text)`` inside the block."""
    previous = getattr(_local, "target", None)
    _local.target = target
    try:
        yield
    finally:
        _local.target = previous
