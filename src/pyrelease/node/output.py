"""The node's ``sys.stdout``/``sys.stderr``: never fatal, and routed per thread.

Output must never break the node: when what reads its stdout is gone (a
daemon's supervisor killed, a closed terminal), a write raises
``BrokenPipeError``; :func:`protect` wraps both streams so that such output is
dropped instead (see :class:`Resilient`).

Code run by ``rpc`` or ``remote`` prints to the caller while every other
thread of the node keeps writing to the node's log. The node installs one
:class:`Router` per stream at boot; a thread that serves a request sets its
target for the duration of the request.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable

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


class Resilient:
    """A text stream whose ``write`` and ``flush`` never raise.

    When the reader of a pipe is gone for good (``EPIPE``), the descriptor is
    pointed at ``/dev/null``, so later writes (the node's, a child's) cost
    nothing and fail nowhere; other errors (a full disk) lose that write only.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._to_devnull()
        except (OSError, ValueError):
            pass
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._to_devnull()
        except (OSError, ValueError):
            pass

    def _to_devnull(self) -> None:
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
        except (OSError, ValueError):
            pass

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._stream, attr)


def protect() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` :class:`Resilient` (idempotent)."""
    if sys.stdout is not None and not isinstance(sys.stdout, Resilient):
        sys.stdout = Resilient(sys.stdout)  # type: ignore[assignment]
    if sys.stderr is not None and not isinstance(sys.stderr, Resilient):
        sys.stderr = Resilient(sys.stderr)  # type: ignore[assignment]


def install() -> None:
    """Put routers in front of ``sys.stdout`` and ``sys.stderr`` (idempotent)."""
    if not isinstance(sys.stdout, Router):
        sys.stdout = Router("stdout", sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, Router):
        sys.stderr = Router("stderr", sys.stderr)  # type: ignore[assignment]


class redirected:  # lower case: used like the function it was, ``with redirected(t):``
    """Send this thread's output to ``target(stream, text)`` inside the block.

    A class rather than ``contextlib.contextmanager``: contextlib is half a
    millisecond of every node's boot.
    """

    def __init__(self, target: Callable[[str, str], None]) -> None:
        self.target = target

    def __enter__(self) -> None:
        self.previous = getattr(_local, "target", None)
        _local.target = self.target

    def __exit__(self, *exc: object) -> None:
        _local.target = self.previous
