"""The processes of a command application: the child, its watchdog, and what they need.

Lean on purpose (``os``, ``time``, ``_thread``, ``_signal`` and ``vmargs``): the
node may start the command before it imports anything else (see
``earlystart``), and :mod:`commandapp` starts it the same way later on. What is
here:

* :func:`expand`: ``${VAR}`` and ``${VAR:-default}`` from the environment;
* :func:`resolve`: the command as the OS runs it (Python programs on the
  release's interpreter);
* :class:`Supervised`: the watchdog leading a new process group, the child in
  that group, both started with ``os.posix_spawn`` (:func:`spawn`), and their
  stop;
* :func:`forward`: the node's HUP/USR1/USR2/TTIN/TTOU passed on to every
  running child.
"""

from __future__ import annotations

import _signal
import _thread
import os
import sys
import time

from pyrelease.node import vmargs
from pyrelease.node.entrypoint import NODE_MAIN

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

FORWARDED = ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU")
# The watchdog: deaf to the signals a terminal or the node's group may get; it
# waits for its stdin to close (the node is gone) unless told "done".
WATCHDOG = (
    "trap '' HUP INT TERM QUIT USR1 USR2 TTIN TTOU PIPE; cd /; "
    'read -r line; [ "$line" = done ] || kill -KILL 0'
)
# os.posix_spawn cannot set the working directory: the child starts as this
# shell, which changes to it and replaces itself with the command (same pid).
CHDIR = 'cd -- "$1" || exit 126; shift; exec "$@"'
# What subprocess restores by default (restore_signals): Python ignores these.
DEFAULT_SIGNALS = tuple(
    getattr(_signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(_signal, name)
)
_NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_NAME_REST = _NAME_START + "0123456789"
_children: dict[int, Child] = {}  # running children by pid


class CommandFailed(Exception):
    """The command could not start, was not ready, or exited abnormally.

    ``exit_status`` is the child's (a permanent command's end is the node's);
    the message is one sentence the node logs as it is (no traceback).
    """

    clear_message = True

    def __init__(self, message: str, exit_status: int = 1) -> None:
        super().__init__(message)
        self.exit_status = exit_status


def expand(text: str, environ: dict[str, str] | os._Environ[str], what: str) -> str:
    """``${VAR}`` and ``${VAR:-default}`` from ``environ``; an unset ``${VAR}`` is an error.

    An empty value counts as unset. Anything else is left as it is (``$VAR``,
    ``${1}``, an unclosed ``${``), as ``re.sub`` with
    ``\\$\\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\\}`` would, without ``re``.
    """
    if "${" not in text:
        return text
    out: list[str] = []
    done = 0  # text[:done] is in out
    at = text.find("${")
    while at >= 0:
        found = _variable(text, at + 2)
        if found is None:
            at = text.find("${", at + 1)
            continue
        name, default, end = found
        value = environ.get(name, "")
        if not value:
            if default is None:
                raise CommandFailed(
                    f"{what} uses ${{{name}}} but {name} is not set; set it in the environment "
                    f"or env.sh, or give a default: ${{{name}:-VALUE}}"
                )
            value = default
        out += [text[done:at], value]
        done = end
        at = text.find("${", end)
    out.append(text[done:])
    return "".join(out)


def _variable(text: str, at: int) -> tuple[str, str | None, int] | None:
    """The ``NAME}`` or ``NAME:-DEFAULT}`` starting at ``at``: name, default, end; or None."""
    if at >= len(text) or text[at] not in _NAME_START:
        return None
    end = at + 1
    while end < len(text) and text[end] in _NAME_REST:
        end += 1
    name = text[at:end]
    if text.startswith("}", end):
        return name, None, end + 1
    if text.startswith(":-", end):
        close = text.find("}", end + 2)
        if close >= 0:
            return name, text[end + 2 : close], close + 1
    return None


def resolve(argv: list[str], what: str) -> list[str]:
    """The command as the OS runs it: Python programs on the release's interpreter
    (the runtime's own executable in the node's ``python`` mode)."""
    root, vsn = os.environ["RELEASE_ROOT"], os.environ["RELEASE_VSN"]
    python = python_command()
    first = argv[0]
    if first == "-m":
        return [*python, *argv]
    if "/" in first:
        path = first if os.path.isabs(first) else os.path.join(root, first)
        if not os.path.isfile(path):
            raise CommandFailed(f"{what}: {first} is not a file inside the release")
        if not os.access(path, os.X_OK):
            raise CommandFailed(f"{what}: {first} is not executable; chmod +x it in the project")
        return [path, *argv[1:]]
    script = os.path.join(root, "releases", vsn, "bin", first)
    if first != "python" and os.path.isfile(script):
        return [*python, script, *argv[1:]]
    raise CommandFailed(
        f"{what}: {first!r} is not a console script of this release; use one of "
        f"releases/{vsn}/bin/, -m MODULE, or a path inside the release"
    )


def python_command() -> list[str]:
    """The node's ``python`` command on the runtime's interpreter, which runs every
    Python program of the release (``zygote.PYTHON_ARGS`` counts what precedes
    ``python``)."""
    return [runtime_executable(), "-I", "-S", NODE_MAIN, "python"]


def install_forwarding() -> None:
    """Forward the node's HUP/USR1/USR2/TTIN/TTOU to every running child (main thread only)."""
    for name in FORWARDED:
        _signal.signal(getattr(_signal, name), forward)


def forward(signum: int, _frame: object) -> None:
    """A signal handler: send ``signum`` to every running child."""
    for pid in list(_children):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def open_fds() -> list[int]:
    """This process's descriptors above 2, from ``/dev/fd`` (the listing's own among
    them, closed by the time it is returned); ``OSError`` where it cannot be listed.
    What a new process must not get: closing these is a few calls, where closing
    every number up to the limit is a million in many containers."""
    return [fd for fd in map(int, os.listdir("/dev/fd")) if fd > 2]


def spawn(argv: list[str], env: Any, std: list[tuple[Any, ...]], pgid: int) -> int:
    """Start ``argv`` as ``subprocess.Popen`` would with ``close_fds=True``,
    ``restore_signals=True`` and ``process_group=pgid`` (0: a new group led by
    the child); ``std`` are ``posix_spawn`` file actions for descriptors 0-2.
    Returns the pid; an ``OSError`` when it cannot be executed."""
    actions = list(std)
    for fd in open_fds():  # what the node inherited stays the node's
        try:
            if os.get_inheritable(fd):
                actions.append((os.POSIX_SPAWN_CLOSE, fd))
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return os.posix_spawn(
        argv[0], argv, env, file_actions=actions, setpgroup=pgid, setsigdef=DEFAULT_SIGNALS
    )


class Child:
    """A started process: ``Popen``'s ``pid``, ``args``, ``poll`` and ``wait``, safe
    to call from several threads (one waits; the others see its result)."""

    def __init__(self, pid: int, args: list[str]) -> None:
        self.pid, self.args = pid, args
        self.returncode: int | None = None
        self._lock = _thread.allocate_lock()

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): as Popen does
            pid, status = self.pid, 0
        if pid == self.pid and self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(status)

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""
        if self.returncode is None and self._lock.acquire(False):
            try:
                if self.returncode is None:
                    self._reap(os.WNOHANG)
            finally:
                self._lock.release()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int | None:
        """The exit status once it has ended; None if ``timeout`` seconds pass first."""
        if timeout is None:
            with self._lock:
                if self.returncode is None:
                    self._reap(0)
            return self.returncode
        deadline = time.monotonic() + timeout
        delay = 0.0005
        while self.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            time.sleep(min(delay, left))
            delay = min(delay * 2, 0.05)
        return self.returncode


def child_environ(extra: dict[str, str]) -> dict[str, str]:
    """The child's environment: the node's, without its own ``NOTIFY_SOCKET`` and the
    host's ``PYTHON*`` settings, plus ``extra`` (the readiness check's)."""
    env = {
        k: v for k, v in os.environ.items() if k != "NOTIFY_SOCKET" and not k.startswith("PYTHON")
    }
    env.update(extra)
    return env


class Watchdog:
    """The watchdog (see ``WATCHDOG``): the leader of a new process group, reading the
    node's end of a pipe; when that end closes without ``done`` (the node is gone,
    even by SIGKILL) it kills its whole group. :class:`Supervised` puts the child in
    it; until then :meth:`discard` ends it."""

    def __init__(self) -> None:
        read_end, self.pipe = os.pipe()  # close-on-exec: no other child keeps the node's end
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            argv = ["/bin/sh", "-c", WATCHDOG]
            std = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                   (os.POSIX_SPAWN_DUP2, null, 2)]  # fmt: skip
            self.proc = Child(spawn(argv, os.environ, std, 0), argv)
        except BaseException:
            os.close(self.pipe)
            raise
        finally:
            os.close(read_end)
            os.close(null)

    def discard(self) -> None:
        """End the watchdog (and its group) and reap it; once."""
        if self.pipe < 0:
            return
        os.close(self.pipe)
        self.pipe = -1
        self.proc.wait()


def child_cwd() -> str:
    """The child's working directory: ``RELEASE_DATA``, where nothing of the caller's
    directory can shadow the release's code."""
    return os.environ.get("RELEASE_DATA") or "/"


class Supervised:
    """The child, the watchdog leading its process group, and the node's end of the pipe.

    ``extra`` are variables the readiness check gives the child (``NOTIFY_SOCKET``);
    ``watchdog`` one started before (:class:`Watchdog`), which this takes over.
    ``fork``: a Python program starts in a fork of the node instead of a new
    interpreter (see ``zygote``). In that child, construction returns with
    ``child_args`` set, the node's ``python`` arguments that run the program:
    the caller runs them, and nothing of the node's.
    """

    #: In the forked child only: its ``python`` command line (see ``fork``).
    child_args: list[str] | None = None

    def __init__(
        self,
        argv: list[str],
        extra: dict[str, str] | None = None,
        *,
        watchdog: Watchdog | None = None,
        fork: bool = False,
    ) -> None:
        env = child_environ(extra or {})
        watchdog = watchdog or Watchdog()
        self.pipe, self.watchdog = watchdog.pipe, watchdog.proc
        self.stopping = False
        self._done = _thread.allocate_lock()
        self._finished = False
        cwd = child_cwd()
        stdin = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        pid = None
        python = python_command()
        if fork and argv[: len(python)] == python:  # a Python program: a fork can become it
            from pyrelease.node import zygote

            pid = zygote.fork_command(argv, env, cwd, self.watchdog.pid)
            if pid == 0:  # this process is the child
                self.child_args = argv[zygote.PYTHON_ARGS :]
                return
        try:
            if pid is None:
                argv_sh = ["/bin/sh", "-c", CHDIR, "sh", cwd, *argv]
                pid = spawn(argv_sh, env, stdin, self.watchdog.pid)
        except OSError as exc:
            self._kill_group()
            watchdog.discard()
            raise CommandFailed(f"command {argv[0]} could not start: {exc.strerror}") from None
        self.proc = Child(pid, argv)
        _children[pid] = self.proc

    def gone(self, ctx: Any) -> str | None:
        """Why the child can no longer become ready, or None."""
        if ctx.stopping.is_set():
            return "stopped while starting"
        status = self.proc.poll()
        if status is None:
            return None
        return f"exited with status {status} before it was ready"

    def stop(self) -> None:
        """SIGTERM to the child; SIGKILL to its group once the shutdown timeout is near."""
        self.stopping = True
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, _signal.SIGTERM)  # not reaped yet: still its pid
            except ProcessLookupError:
                pass
            vm = vmargs.load(os.environ.get("RELEASE_VM_ARGS", ""))
            grace = max(0.5, vm.shutdown_timeout - 1.0)  # a moment left for the node to report
            if self.proc.wait(grace) is None:
                print(
                    f"[node] command {self.proc.args[0]} did not stop within {grace:g}s "
                    "of SIGTERM; killing its process group",
                    flush=True,
                )
        self.finish()

    def finish(self) -> None:
        """Kill what is left of the group (workers, the watchdog) and reap it; once."""
        with self._done:
            if self._finished:
                return
            self._finished = True
            self._kill_group()
            os.close(self.pipe)
            for proc in (self.proc, self.watchdog):
                proc.wait(5)
            _children.pop(self.proc.pid, None)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # grandchildren are reaped by init
                try:
                    os.killpg(self.watchdog.pid, 0)
                except (ProcessLookupError, PermissionError):
                    return
                time.sleep(0.01)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.watchdog.pid, _signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def runtime_executable() -> str:
    """The runtime's own interpreter (``sys.executable`` until the boot makes it the
    release's launcher, see ``boot.release_executable``)."""
    boot = sys.modules.get("pyrelease.node.boot")
    return boot.RUNTIME_EXECUTABLE if boot is not None else sys.executable  # type: ignore[attr-defined]
