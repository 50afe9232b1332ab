"""``daemon`` and ``daemon_iex``: the node runs detached, under a supervisor.

::

    bin/NAME daemon ──fork──▶ supervisor (new session, no terminal, cwd RELEASE_ROOT)
        │ waits on a pipe          └──▶ node: python -I -S -u …/__main__.py start
        ▼                                   stdout+stderr ──▶ tmp/log/NODE.log.N
    exit 0 once the node said READY=1; exit 1 with the error and the log's
    last lines when it exited first or was not ready in time

Unlike the model (``run_erl``), ``daemon`` only succeeds once every application
has started. This module is the ``daemon`` command: its checks, the fork and
detach, and the wait for the supervisor's verdict. The supervisor itself lives
in ``supervisor.py`` (its channels to the node in ``nodeio.py``, the restart
policy in ``heart.py``), the log files in ``logrotate.py``, the settings and
file layout in ``daemonconfig.py``, the pid files in ``pidfiles.py``, and
``attach`` in ``attach.py``.
"""

from __future__ import annotations

import json
import os
import selectors
import sys
import time

from pyrelease.node.daemonconfig import DaemonError, Paths, Settings, absolute_paths
from pyrelease.node.pidfiles import is_node_process, read_pid
from pyrelease.node.safefiles import open_private
from pyrelease.node.supervisor import Supervisor

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from pyrelease.node.releaseenv import Env


# -- the daemon command -------------------------------------------------------------


def cmd_daemon(env: Env, argv: list[str], *, iex: bool) -> int:
    """Start a supervised, detached node; return once it is ready (0) or has failed (1)."""
    try:
        if os.name != "posix":
            raise DaemonError("daemon mode needs a Unix-like system; on Windows use install")
        env.check_distribution()
        settings = Settings.from_environ(os.environ)
        absolute_paths(os.environ)
        paths = Paths.of(env)
        paths.make_dirs()
        lock = lock_supervisor(paths, env.node_name)
        try:
            refuse_orphan_node(paths, env.node_name)
        except DaemonError:
            os.close(lock)
            raise
    except DaemonError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    return start_supervisor(env, paths, settings, lock, iex=iex)


def lock_supervisor(paths: Paths, node: str) -> int:
    """Lock the supervisor pid file for the supervisor to come; refuse when it is held.

    The lock lives as long as the supervisor, so a stale file left by a killed
    supervisor never blocks a new start. Returns the locked descriptor.
    """
    import fcntl

    for _ in range(20):
        fd = open_private(paths.supervisor_pid, os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = read_pid(paths.supervisor_pid)
            raise DaemonError(
                f"a daemon for node {node} is already running (supervisor pid {pid}); stop it first"
            ) from None
        try:
            same = os.stat(paths.supervisor_pid).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False  # a supervisor removed it while exiting: lock the new file
        if same:
            return fd
        os.close(fd)
    raise DaemonError(f"could not lock {paths.supervisor_pid}")


def refuse_orphan_node(paths: Paths, node: str) -> None:
    """A node whose supervisor was killed may still run: do not start a second one."""
    pid = read_pid(paths.pid)
    if pid is not None and is_node_process(pid):
        raise DaemonError(
            f"node {node} is already running (pid {pid}, from {paths.pid}) without its "
            "daemon supervisor; stop it before starting a daemon"
        )


def start_supervisor(env: Env, paths: Paths, settings: Settings, lock: int, *, iex: bool) -> int:
    """Fork the supervisor, then wait for its verdict on the node's boot."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    verdict_r, verdict_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(verdict_r)
        _supervise(env, paths, settings, lock, verdict_w, iex)  # never returns
    os.close(verdict_w)
    os.close(lock)  # the supervisor holds the lock now
    return wait_for_node(env, paths, settings, pid, verdict_r)


def _supervise(env: Env, paths: Paths, settings: Settings, lock: int, verdict: int,
               iex: bool) -> None:  # fmt: skip
    """The forked child: detach from the terminal and run the supervisor; never return."""
    status = 1
    try:
        os.setsid()
        os.chdir(env.root)
        null = os.open(os.devnull, os.O_RDWR | getattr(os, "O_NOCTTY", 0))
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        os.ftruncate(lock, 0)
        os.write(lock, f"{os.getpid()}\n".encode())
        supervisor = Supervisor(env, paths, settings, iex=iex, verdict_fd=verdict)
        status = supervisor.run()
    except BaseException as exc:
        message = {"ready": False, "error": f"the daemon supervisor failed to start: {exc!r}"}
        try:
            os.write(verdict, json.dumps(message).encode() + b"\n")
        except OSError:
            pass
    finally:
        os._exit(status)


def wait_for_node(env: Env, paths: Paths, settings: Settings, pid: int, fd: int) -> int:
    """Read the supervisor's verdict and report it; 0 only when the node is ready."""
    limit = settings.timeout + settings.stop_timeout + 10

    def progress(line: bytes) -> None:
        print(f"node {env.node_name} is not ready yet: {line.decode(errors='replace')}",
              file=sys.stderr, flush=True)  # fmt: skip

    try:
        data = _read_to_eof(fd, limit, progress)
    except KeyboardInterrupt:
        print(
            f"\ninterrupted: node {env.node_name} goes on starting in the background "
            f"(supervisor pid {pid}); see {paths.log}",
            file=sys.stderr,
        )
        return 130
    finally:
        os.close(fd)
    if data is None:
        print(
            f"ERROR: no answer from the daemon supervisor (pid {pid}) within {limit:g}s; "
            f"see {paths.log}",
            file=sys.stderr,
        )
        return 1
    try:
        verdict = json.loads(data.decode().splitlines()[0])
    except (ValueError, IndexError):
        verdict = {"ready": False, "error": "the daemon supervisor exited without a word"}
    if verdict.get("ready"):
        return 0
    os.waitpid(pid, 0)  # the pipe closed: it is exiting, its files are gone
    report_failure(verdict, paths)
    return 1


def _read_to_eof(fd: int, limit: float, progress: Any = None) -> bytes | None:
    """The verdict written to ``fd`` until its writer closes it; None after ``limit`` s.

    The supervisor closes its end right after a "ready" verdict, and at its very
    end (its files removed) after a failure. Before the verdict, it may write
    ``{"status": ...}`` lines (why the node is not ready yet): each goes to
    ``progress`` as it comes, and is not part of what is returned.
    """
    deadline = time.monotonic() + limit
    chunks: list[bytes] = []
    pending = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks) + pending
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                status = _status(line)
                if status is None:
                    chunks.append(line + b"\n")
                elif progress is not None and status:
                    progress(status.encode())


def _status(line: bytes) -> str | None:
    """The text of a ``{"status": ...}`` progress line; None for any other line."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    if isinstance(obj, dict) and set(obj) == {"status"} and isinstance(obj["status"], str):
        return obj["status"]
    return None


def report_failure(verdict: dict[str, Any], paths: Paths) -> None:
    """One ``ERROR:`` line, then the last lines the node wrote during its boot."""
    print(f"ERROR: {verdict.get('error', 'the node failed to start')}", file=sys.stderr)
    tail = verdict.get("tail") or []
    if tail:
        print(f"Last lines of its log ({verdict.get('log', paths.log)}):", file=sys.stderr)
        for line in tail:
            print(f"    {line}", file=sys.stderr)
    sys.stderr.flush()
