"""``attach``: follow a ``daemon_iex`` node's log and type into its REPL (``to_erl``).

What is typed goes to the node through the supervisor's FIFO,
``tmp/pipe/NODE.in`` (see ``nodeio.InputPipe``); what the node answers is read
back from its rotating log (``logrotate.LogFollower``).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import sys

from pyrelease.node import logrotate
from pyrelease.node.daemonconfig import DaemonError, Paths, Settings
from pyrelease.node.pidfiles import read_pid
from pyrelease.node.safefiles import UnsafePath, check_tmp

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import TextIO

    from pyrelease.node.releaseenv import Env


def attach(env: Env, *, stdin_fd: int = 0, out: TextIO | None = None) -> int:
    """Attach to a ``daemon_iex`` node, like the model's ``to_erl``.

    Prints the log's last lines, then follows the log (across rotations) while
    sending each line typed on ``stdin_fd`` to the node's REPL through
    ``tmp/pipe/NODE.in``. End of input (Ctrl-D) or Ctrl-C detaches; the node
    keeps running either way. Returns the exit status.
    """
    out = out or sys.stdout
    paths = Paths.of(env)
    try:
        settings = Settings.from_environ(os.environ)
        check_tmp(paths.tmp, create=False)
        pipe = _open_fifo_for_writing(paths, env)
    except (DaemonError, UnsafePath) as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    try:
        for line in logrotate.tail(paths.log, settings.log_files, 20):
            out.write(line + "\n")
        out.write(f"[attached to node {env.node_name}: Ctrl-D or Ctrl-C detaches]\n")
        out.flush()
        _attach_loop(paths, pipe, stdin_fd, out)
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        print(f"\nERROR: the daemon of node {env.node_name} went away", file=sys.stderr)
        return 1
    finally:
        os.close(pipe)
    out.write(f"\n[detached; node {env.node_name} keeps running]\n")
    out.flush()
    return 0


def _open_fifo_for_writing(paths: Paths, env: Env) -> int:
    if not os.path.exists(paths.fifo):
        hint = (
            "it was started with daemon, not daemon_iex; use remote"
            if read_pid(paths.supervisor_pid)
            else f"no daemon for node {env.node_name} is running"
        )
        raise DaemonError(f"{paths.fifo} does not exist: {hint}")
    try:
        fd = os.open(paths.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:  # ENXIO: nobody reads it; ELOOP: a link, not the daemon's FIFO
        raise DaemonError(f"no daemon for node {env.node_name} reads {paths.fifo}") from None
    os.set_blocking(fd, True)
    return fd


def _attach_loop(paths: Paths, pipe: int, stdin_fd: int, out: TextIO) -> None:
    follower = logrotate.LogFollower(paths.log)
    with selectors.DefaultSelector() as sel, contextlib.closing(follower):
        sel.register(stdin_fd, selectors.EVENT_READ)
        while True:
            if sel.select(0.2):
                data = os.read(stdin_fd, 65536)
                if not data:
                    return
                os.write(pipe, data)
            text = follower.read()
            if text:
                out.write(text)
                out.flush()
