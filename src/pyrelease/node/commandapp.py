"""Command applications: a server people already run (gunicorn, uvicorn, celery) as the
node's supervised child, the way Erlang supervises a port.

``[tool.pyrelease.releases.NAME] command = [...]`` becomes an application of
the boot manifest whose start callable is :func:`start`, so it is started,
stopped, restarted and judged by its mode like any other. Its settings are in
the manifest's ``commands`` table. At start:

1. ``${VAR}`` and ``${VAR:-default}`` in the command and in ``ready`` are
   expanded from the environment (after ``env.sh`` and the runtime config);
2. the program is resolved: a console script of the release, ``-m MODULE``, or a
   path inside the release; Python ones run on the release's interpreter;
3. a watchdog (``/bin/sh``, a few hundred kB) starts as the leader of a new
   process group and the child joins that group: when the node dies, even by
   SIGKILL, the kernel closes the node's end of the watchdog's pipe and the
   watchdog kills the whole group (workers and re-executed masters included).
   ``prctl(PR_SET_PDEATHSIG)`` was not chosen: it needs ``ctypes`` (which a pruned
   runtime may lack), covers only the direct child and fires when the *thread*
   that started it ends;
4. the child runs in ``RELEASE_DATA`` (never the caller's directory, which
   some servers put first on ``sys.path``), its stdin from ``/dev/null``, its
   output into the node's (the daemon's log included), no other descriptor of
   the node, with the node's environment minus the node's own ``NOTIFY_SOCKET``
   and any ``PYTHON*``. Both processes are started with ``os.posix_spawn``
   (see :func:`spawn`), not ``subprocess``, whose import is a few milliseconds
   of every command application's start;
5. the node is ready once the ``ready`` check passes (:mod:`readiness`).

A stop sends SIGTERM to the child, SIGKILL to the group after the shutdown
timeout. SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN and SIGTTOU sent to the node are
forwarded to the children (gunicorn's reload, re-exec and scaling signals).
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

from pyrelease.node import boot, readiness, vmargs

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

FORWARDED = ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU")
NODE_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__main__.py")
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
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
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
    """``${VAR}`` and ``${VAR:-default}`` from ``environ``; an unset ``${VAR}`` is an error."""

    def one(match: re.Match[str]) -> str:
        name, default = match[1], match[2]
        value = environ.get(name, "")
        if value:
            return value
        if default is not None:
            return default
        raise CommandFailed(
            f"{what} uses ${{{name}}} but {name} is not set; set it in the environment or "
            f"env.sh, or give a default: ${{{name}:-VALUE}}"
        )

    return _VAR.sub(one, text)


def install_forwarding() -> None:
    """Forward the node's HUP/USR1/USR2/TTIN/TTOU to every running child (main thread only)."""
    for name in FORWARDED:
        signal.signal(getattr(signal, name), _forward)


def _forward(signum: int, _frame: object) -> None:
    for pid in list(_children):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass


def settings(name: str) -> dict[str, Any]:
    """This command's settings from the boot manifest the node booted with
    (``name`` is the application's configuration key)."""
    root, vsn = os.environ["RELEASE_ROOT"], os.environ["RELEASE_VSN"]
    script = os.environ.get("RELEASE_BOOT_SCRIPT", "start")
    with open(os.path.join(root, "releases", vsn, script + ".json"), encoding="utf-8") as f:
        commands = json.load(f)["commands"]
    from pyrelease.node.appconfig import normalize_app

    return next(v for k, v in commands.items() if normalize_app(k) == name)


def resolve(argv: list[str], what: str) -> list[str]:
    """The command as the OS runs it: Python programs on the release's interpreter."""
    root, vsn = os.environ["RELEASE_ROOT"], os.environ["RELEASE_VSN"]
    python = [boot.RUNTIME_EXECUTABLE, "-I", "-S", NODE_MAIN, "python"]
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


def start(ctx: Any) -> None:
    """Run the command until it ends or the node stops it (the application's start callable)."""
    spec = settings(ctx.name)
    what = f"command {' '.join(spec['argv'])}"
    argv = [expand(arg, os.environ, what) for arg in spec["argv"]]
    what = f"command {' '.join(argv)}"
    try:
        check = readiness.parse(expand(spec.get("ready", "started"), os.environ, what),
                                os.environ.get("RELEASE_TMP", ""))  # fmt: skip
    except readiness.NotReady as exc:
        raise CommandFailed(str(exc)) from None
    child = Supervised(resolve(argv, what), check)
    ctx.on_stop(child.stop)
    try:
        readiness.wait(check, float(spec.get("ready_timeout", 60)), lambda: child.gone(ctx))
    except readiness.NotReady as exc:
        child.stop()
        if ctx.stopping.is_set():
            return None
        raise CommandFailed(f"{what} {exc}") from None
    finally:
        check.close()
    ctx.ready()
    status = child.proc.wait()
    child.finish()
    if ctx.stopping.is_set() or child.stopping or status == 0:
        return None
    how = f"signal {signal.Signals(-status).name}" if status < 0 else f"status {status}"
    raise CommandFailed(f"{what} exited with {how}", 128 - status if status < 0 else status)


def spawn(argv: list[str], env: Any, std: list[tuple[Any, ...]], pgid: int) -> int:
    """Start ``argv`` as ``subprocess.Popen`` would with ``close_fds=True``,
    ``restore_signals=True`` and ``process_group=pgid`` (0: a new group led by
    the child); ``std`` are ``posix_spawn`` file actions for descriptors 0-2.
    Returns the pid; an ``OSError`` when it cannot be executed."""
    actions = list(std)
    for name in os.listdir("/dev/fd"):  # what the node inherited stays the node's
        fd = int(name)
        try:
            if fd > 2 and os.get_inheritable(fd):
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
        self._lock = threading.Lock()

    def _reap(self, flags: int) -> None:
        try:
            pid, status = os.waitpid(self.pid, flags)
        except ChildProcessError:  # reaped elsewhere (SIGCHLD ignored): as Popen does
            pid, status = self.pid, 0
        if pid == self.pid and self.returncode is None:
            self.returncode = os.waitstatus_to_exitcode(status)

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), or None while it runs."""
        if self.returncode is None and self._lock.acquire(blocking=False):
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


class Supervised:
    """The child, the watchdog leading its process group, and the node's end of the pipe."""

    def __init__(self, argv: list[str], check: readiness.Check) -> None:
        # The host's PYTHON* settings and the node's own NOTIFY_SOCKET are not the child's.
        env = {
            k: v
            for k, v in os.environ.items()
            if k != "NOTIFY_SOCKET" and not k.startswith("PYTHON")
        }
        env.update(check.environ())
        read_end, self.pipe = os.pipe()  # close-on-exec: no other child keeps the node's end
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            wd = ["/bin/sh", "-c", WATCHDOG]
            std = [(os.POSIX_SPAWN_DUP2, read_end, 0), (os.POSIX_SPAWN_DUP2, null, 1),
                   (os.POSIX_SPAWN_DUP2, null, 2)]  # fmt: skip
            pid = spawn(wd, os.environ, std, 0)
            self.watchdog = Child(pid, wd)
        finally:
            os.close(read_end)
            os.close(null)
        self.stopping = False
        self._done = threading.Lock()
        self._finished = False
        cwd = os.environ.get("RELEASE_DATA") or "/"
        stdin = [(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)]
        try:
            pid = spawn(["/bin/sh", "-c", CHDIR, "sh", cwd, *argv], env, stdin, self.watchdog.pid)
        except OSError as exc:
            self._kill_group()
            os.close(self.pipe)
            self.watchdog.wait()
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
                os.kill(self.proc.pid, signal.SIGTERM)  # not reaped yet: still its pid
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
            os.killpg(self.watchdog.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
