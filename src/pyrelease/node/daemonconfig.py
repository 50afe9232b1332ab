"""What a daemon is told by its environment, and where it keeps its files.

Files, with ``NODE`` the name part of ``RELEASE_NODE`` (the release name by
default):

* ``$RELEASE_TMP/NODE.pid``: the node's OS pid (rewritten when heart restarts it);
* ``$RELEASE_TMP/NODE.supervisor.pid``: the supervisor's pid, locked (``flock``)
  for as long as it runs, which is how a second ``daemon`` knows to refuse;
* ``$RELEASE_TMP/log/NODE.log.1`` .. ``.N`` and the symlink ``NODE.log``;
* ``$RELEASE_TMP/pipe/NODE.in`` (``daemon_iex``): a FIFO feeding the node's REPL;
* ``$RELEASE_TMP/pipe/NODE.notify``: the supervisor's readiness socket.

``RELEASE_TMP``, ``log/`` and ``pipe/`` are created with mode 0700, and
refused when other users could change them (see ``safefiles.py``); files are
never opened through a symbolic link. Everything but the logs is removed when
the supervisor exits.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from pyrelease.node import safefiles

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Mapping, MutableMapping
    from typing import Any

    from pyrelease.node.releaseenv import Env


class DaemonError(Exception):
    """A problem the user must fix; printed as one ``ERROR:`` line, exit status 1."""


@dataclass(frozen=True)
class Paths:
    """Where a daemon keeps its files (see the module docstring)."""

    tmp: str
    log_dir: str
    pipe_dir: str
    log: str
    fifo: str
    notify: str
    pid: str
    supervisor_pid: str

    @classmethod
    def of(cls, env: Env) -> Paths:
        node, tmp = env.node_name, os.path.abspath(env.tmp)
        log_dir, pipe_dir = os.path.join(tmp, "log"), os.path.join(tmp, "pipe")
        return cls(
            tmp=tmp,
            log_dir=log_dir,
            pipe_dir=pipe_dir,
            log=os.path.join(log_dir, f"{node}.log"),
            fifo=os.path.join(pipe_dir, f"{node}.in"),
            notify=os.path.join(pipe_dir, f"{node}.notify"),
            pid=os.path.join(tmp, f"{node}.pid"),
            supervisor_pid=os.path.join(tmp, f"{node}.supervisor.pid"),
        )

    def make_dirs(self) -> None:
        """``RELEASE_TMP`` and its private ``log/`` and ``pipe/`` folders, made or checked;
        :class:`safefiles.UnsafePath` when another user could tamper with them."""
        safefiles.check_tmp(self.tmp)
        for folder in (self.log_dir, self.pipe_dir):
            safefiles.private_dir(folder)


@dataclass(frozen=True)
class Settings:
    """The daemon's environment variables, validated."""

    timeout: float = 60.0  # RELEASE_DAEMON_TIMEOUT
    log_size: int = 100_000  # RELEASE_LOG_SIZE
    log_files: int = 5  # RELEASE_LOG_FILES
    heart: bool = False  # RELEASE_HEART
    heart_backoff: float = 1.0  # RELEASE_HEART_BACKOFF
    heart_max_restarts: int = 5  # RELEASE_HEART_MAX_RESTARTS
    heart_window: float = 60.0  # RELEASE_HEART_WINDOW
    stop_timeout: float = 60.0  # RELEASE_STOP_TIMEOUT

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        d = cls()
        return cls(
            timeout=_number(environ, "RELEASE_DAEMON_TIMEOUT", d.timeout, float, positive=True),
            log_size=_number(environ, "RELEASE_LOG_SIZE", d.log_size, int, positive=True),
            log_files=_number(environ, "RELEASE_LOG_FILES", d.log_files, int, positive=True),
            heart=_flag(environ, "RELEASE_HEART"),
            heart_backoff=_number(environ, "RELEASE_HEART_BACKOFF", d.heart_backoff, float),
            heart_max_restarts=_number(
                environ, "RELEASE_HEART_MAX_RESTARTS", d.heart_max_restarts, int
            ),
            heart_window=_number(environ, "RELEASE_HEART_WINDOW", d.heart_window, float),
            stop_timeout=_number(environ, "RELEASE_STOP_TIMEOUT", d.stop_timeout, float),
        )


def _number(environ: Mapping[str, str], name: str, default: Any, kind: type, *,
            positive: bool = False) -> Any:  # fmt: skip
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < 0 or (positive and value == 0) or value != value:
        what = "a whole number" if kind is int else "a number"
        sign = "greater than 0" if positive else "0 or more"
        raise DaemonError(f"{name} must be {what} {sign}, got {text!r}")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    text = environ.get(name, "").strip().lower()
    if text in ("", "0", "false", "no", "off"):
        return False
    if text in ("1", "true", "yes", "on"):
        return True
    raise DaemonError(f"{name} must be 1 or 0, got {environ[name]!r}")


PATH_VARIABLES = ("RELEASE_TMP", "RELEASE_SYS_CONFIG", "RELEASE_VM_ARGS", "RELEASE_REMOTE_VM_ARGS")


def absolute_paths(environ: MutableMapping[str, str]) -> None:
    """The supervisor and the node run in ``RELEASE_ROOT``: resolve relative paths
    given by the caller against the caller's directory, as ``start`` would."""
    for name in PATH_VARIABLES:
        if environ.get(name):
            environ[name] = os.path.abspath(environ[name])
