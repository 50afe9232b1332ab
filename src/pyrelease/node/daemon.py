"""``daemon`` and ``daemon_iex``: the node runs detached, under a supervisor.

::

    bin/NAME daemon ──fork──▶ supervisor (new session, no terminal, cwd RELEASE_ROOT)
        │ waits on a pipe          └──▶ node: python -I -S -u …/__main__.py start
        ▼                                   stdout+stderr ──▶ tmp/log/NODE.log.N
    exit 0 once the node said READY=1; exit 1 with the error and the log's
    last lines when it exited first or was not ready in time

Unlike the model (``run_erl``), ``daemon`` only succeeds once every application
has started. The supervisor itself lives in ``heart.py``, the log files in
``logrotate.py``. Files, with ``NODE`` the name part of ``RELEASE_NODE``
(the release name by default):

* ``$RELEASE_TMP/NODE.pid``: the node's OS pid (rewritten when heart restarts it);
* ``$RELEASE_TMP/NODE.supervisor.pid``: the supervisor's pid, locked (``flock``)
  for as long as it runs, which is how a second ``daemon`` knows to refuse;
* ``$RELEASE_TMP/log/NODE.log.1`` .. ``.N`` and the symlink ``NODE.log``;
* ``$RELEASE_TMP/pipe/NODE.in`` (``daemon_iex``): a FIFO feeding the node's REPL;
* ``$RELEASE_TMP/pipe/NODE.notify``: the supervisor's readiness socket.

``log/`` and ``pipe/`` are created with mode 0700; everything but the logs is
removed when the supervisor exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import sys
import time
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, TextIO

from pyrelease.node import heart, logrotate
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
        """``RELEASE_TMP`` and its private ``log/`` and ``pipe/`` folders."""
        os.makedirs(self.tmp, exist_ok=True)
        for folder in (self.log_dir, self.pipe_dir):
            try:
                os.mkdir(folder, 0o700)
            except FileExistsError:
                continue
            os.chmod(folder, 0o700)  # whatever the umask


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


PATH_VARIABLES = ("RELEASE_TMP", "RELEASE_SYS_CONFIG", "RELEASE_VM_ARGS", "RELEASE_REMOTE_VM_ARGS")


def absolute_paths(environ: MutableMapping[str, str]) -> None:
    """The supervisor and the node run in ``RELEASE_ROOT``: resolve relative paths
    given by the caller against the caller's directory, as ``start`` would."""
    for name in PATH_VARIABLES:
        if environ.get(name):
            environ[name] = os.path.abspath(environ[name])


def lock_supervisor(paths: Paths, node: str) -> int:
    """Lock the supervisor pid file for the supervisor to come; refuse when it is held.

    The lock lives as long as the supervisor, so a stale file left by a killed
    supervisor never blocks a new start. Returns the locked descriptor.
    """
    import fcntl

    for _ in range(20):
        fd = os.open(paths.supervisor_pid, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
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
        supervisor = heart.Supervisor(env, paths, settings, iex=iex, verdict_fd=verdict)
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
    try:
        data = _read_to_eof(fd, limit)
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


def _read_to_eof(fd: int, limit: float) -> bytes | None:
    """Everything written to ``fd`` until its writer closes it; None after ``limit`` s.

    The supervisor closes its end right after a "ready" verdict, and at its very
    end (its files removed) after a failure.
    """
    deadline = time.monotonic() + limit
    chunks = []
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not sel.select(remaining):
                return None
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def report_failure(verdict: dict[str, Any], paths: Paths) -> None:
    """One ``ERROR:`` line, then the last lines the node wrote during its boot."""
    print(f"ERROR: {verdict.get('error', 'the node failed to start')}", file=sys.stderr)
    tail = verdict.get("tail") or []
    if tail:
        print(f"Last lines of its log ({verdict.get('log', paths.log)}):", file=sys.stderr)
        for line in tail:
            print(f"    {line}", file=sys.stderr)
    sys.stderr.flush()


# -- pid files --------------------------------------------------------------------


def read_pid(path: str) -> int | None:
    """The pid in a pid file, None when there is none."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            text = f.read().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


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


# -- attach -------------------------------------------------------------------------


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
        pipe = _open_fifo_for_writing(paths, env)
    except DaemonError as exc:
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
        fd = os.open(paths.fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:  # ENXIO: nobody reads it
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
