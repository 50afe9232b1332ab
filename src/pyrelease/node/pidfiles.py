"""The daemon's pid files, and removing the files a daemon leaves behind.

The supervisor writes ``NODE.pid`` atomically each time it starts the node (so
heart's restarts rewrite it); the ``daemon`` and ``attach`` commands read it and
``NODE.supervisor.pid`` to tell whether a daemon or a node is already running.
"""

from __future__ import annotations

import os

from pyrelease.node.safefiles import write_atomic


def read_pid(path: str) -> int | None:
    """The pid in a pid file, None when there is none."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def write_pid_file(path: str, pid: int) -> None:
    """Write ``pid`` to ``path`` atomically (a reader never sees a half-written file,
    and a symbolic link at ``path`` is replaced, not followed)."""
    write_atomic(path, f"{pid}\n".encode(), 0o644)


def is_node_process(pid: int) -> bool:
    """``pid`` is alive (not a zombie) and, where ``/proc`` tells, runs the node."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # not ours, so not our node
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"pyrelease/node/__main__.py" in f.read()
    except (OSError, IndexError):
        return True  # no /proc: trust the signal check


def remove(path: str) -> None:
    """Unlink ``path`` if it is there."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
