"""Heart: the daemon's restart policy for a node that exited abnormally.

With ``RELEASE_HEART`` on, the supervisor (``supervisor.py``) asks :class:`Heart`
how long to wait before starting the node again: ``RELEASE_HEART_BACKOFF``
seconds, doubling with each restart still within the window and capped at 30 s;
after ``RELEASE_HEART_MAX_RESTARTS`` restarts within ``RELEASE_HEART_WINDOW``
seconds it gives up, and so does the daemon.
"""

from __future__ import annotations

import collections

BACKOFF_CAP = 30.0


class Heart:
    """The restart policy: back-off doubling from ``backoff``, capped at 30 s, and
    at most ``max_restarts`` restarts within any ``window`` seconds."""

    def __init__(self, backoff: float, max_restarts: int, window: float) -> None:
        self.backoff = backoff
        self.max_restarts = max_restarts
        self.window = window
        self.restarts: collections.deque[float] = collections.deque()

    def next_delay(self, now: float) -> float | None:
        """Record a restart at ``now`` and return its delay; None when over the limit."""
        while self.restarts and now - self.restarts[0] > self.window:
            self.restarts.popleft()
        if len(self.restarts) >= self.max_restarts:
            return None
        delay = min(self.backoff * 2 ** len(self.restarts), max(BACKOFF_CAP, self.backoff))
        self.restarts.append(now)
        return delay

    @property
    def count(self) -> int:
        """Restarts within the current window, the one just decided included."""
        return len(self.restarts)
