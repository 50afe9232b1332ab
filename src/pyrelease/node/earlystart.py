"""Start a release's command before the node boots, when nothing the boot does can change it.

A release whose command application is the first application to start, with
no ``config/runtime.py``, no config provider of its own (the built-in ``toml``,
``json`` and ``env`` ones only read), nothing to preload, no
``reboot_system_after_config`` and a readiness check other than ``notify``,
gets ``releases/VSN/start.command`` from the build: the command's settings
(see ``assemble/bootfiles.py``). Nothing the node does before the command
would start can then change the command's environment, so ``bin/NAME start``
starts it first (:func:`begin`, called by ``__main__`` before the node's other
imports): the node's lock, ``${VAR}`` expansion, the program, and the child
with its watchdog exactly as :class:`~pyrelease.node.cmdproc.Supervised` starts
them later on. The server then starts before the node boots, instead of
after; with a ``tcp``/``http`` ready check the node lets it start alone until
the check passes (``HEAD_START`` seconds at most), then boots.

The command application adopts that child on its first start (:func:`adopt`);
restarts start a new one. When the node does not get that far (its boot
failed, it was stopped), :func:`discard` stops the child and reaps it: called
by the node's exit, and at interpreter exit for every other way out. Whatever
goes wrong here (a variable not set, a program not found, the lock held) just
leaves the command to the normal path, which reports it with the usual message.

A Python program on the node's interpreter starts in a fork of the node,
made once the lock is held and the watchdog runs (see ``zygote``), instead of
a new interpreter; ``__main__`` then runs it in that child.

Imports only what starting the child needs (``cmdproc``, ``bootcache``,
``nodelock``, ``readiness`` without ``socket``, and for a fork what the
child's ``python`` command needs): everything else the node imports after.
"""

from __future__ import annotations

import _signal
import _thread
import os

from pyrelease.node import cmdproc, vmargs
from pyrelease.node.releaseenv import Env

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pyrelease.node import readiness

PLAN_FORMAT = 1
#: How long the node lets the command start alone before it boots on (see _let_it_start).
HEAD_START = 1.0
#: The signals the node takes over from the default dispositions before the child starts.
STOP_SIGNALS = (_signal.SIGTERM, _signal.SIGINT)

_guard = _thread.allocate_lock()
_group: cmdproc.Supervised | None = None
_started: tuple[str, list[str], str] | None = None  # the app's key, argv, ready check
_lock: int | None = None
#: SIGTERM or SIGINT received between the start of the command and the node's own handlers.
pending: int | None = None


class Early:
    """The command :func:`begin` starts, as the plan and the environment give it."""

    def __init__(self, app: str, argv: list[str], ready: str, program: list[str], env: Env):
        self.app, self.argv, self.ready, self.program, self.env = app, argv, ready, program, env
        #: Whether a fork of the node can become it (see ``zygote``): a Python program
        #: on this very interpreter, as the build allows (no title setter in the release).
        self.forks = False


def _command() -> Early | None:
    """The command this ``start`` starts early, worked out without changing anything
    but ``RELEASE_DATA`` and ``RELEASE_TMP`` in the environment (no lock, no
    process); None when there is none. Raises what the normal path will report."""
    environ = os.environ
    root, vsn = environ.get("RELEASE_ROOT"), environ.get("RELEASE_VSN")
    if not root or not vsn:
        return None
    script = environ.get("RELEASE_BOOT_SCRIPT") or "start"
    env = Env(environ)
    env.check_distribution()
    vm = vmargs.load(env.vm_args)
    if vm.needs_reexec():
        return None  # this process is replaced: the next image starts the command
    from pyrelease.node import bootcache

    bootcache.use(env.vsn_dir)  # the build's parse of start.command: no JSON parser to load
    try:
        plan = bootcache.load_json(os.path.join(root, "releases", vsn, script + ".command"))
    except (OSError, ValueError):
        return None  # unreadable: the normal path
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        return None
    env.export()  # RELEASE_DATA and RELEASE_TMP, as the child gets them
    template: list[str] = plan["argv"]
    what = f"command {' '.join(template)}"
    argv = [cmdproc.expand(arg, environ, what) for arg in template]
    what = f"command {' '.join(argv)}"
    ready = cmdproc.expand(plan.get("ready", "started"), environ, what)
    if ready == "notify":
        return None  # its socket is the node's to create
    early = Early(str(plan["app"]), argv, ready, cmdproc.resolve(argv, what), env)
    python = cmdproc.python_command()
    # A fresh interpreter (vm.args flags, a hash seed) would not be this one; a title
    # setter finds the command line through the C environment, which a fork replaces.
    early.forks = (
        early.program[: len(python)] == python
        and not vm.interpreter
        and vm.hash_seed is None
        and plan.get("fork") is True
    )
    return early


def begin() -> list[str] | None:
    """Start the command now if this release and this boot allow it.

    None in the node. When the command starts in a fork of the node (``zygote``),
    the node's ``python`` arguments that run it, in that child: the caller runs
    them, at the top of its stack, and nothing else.
    """
    try:
        early = _command()
        if early is None:
            return None
        return _start(early)
    except Exception:  # the normal path starts it, or says what is wrong
        return None


def _start(early: Early) -> list[str] | None:
    """Start ``early``'s command (see :func:`begin`)."""
    global _group, _started, _lock
    from pyrelease.node import nodelock, readiness

    # The dispositions the child inherits are those of a booted node: TERM and INT
    # caught (a stop asked for now is the node's, see ``pending``), the forwarded ones;
    # taken before the lock, which the start may wait for, as the normal path does.
    taken = [*STOP_SIGNALS, *(getattr(_signal, name) for name in cmdproc.FORWARDED)]
    saved = {signum: _signal.getsignal(signum) for signum in taken}
    watchdog = None
    try:
        for signum in STOP_SIGNALS:
            _signal.signal(signum, _note_stop)
        cmdproc.install_forwarding()
        # Started first, so that its shell has started by the time the child does.
        watchdog = cmdproc.Watchdog()
        _lock = nodelock.acquire(early.env)  # a second node must not start a second server
        if pending is not None:  # stopped already: the normal path stops, with no command
            raise InterruptedError("stopped before the command started")
        check = readiness.parse(early.ready, os.environ.get("RELEASE_TMP", ""))
        if early.forks:  # imported once, before the fork: the child needs it at once
            from pyrelease.node import interp  # noqa: F401
        group = cmdproc.Supervised(
            early.program, check.environ(), watchdog=watchdog, fork=early.forks
        )
    except BaseException:
        if watchdog is not None:
            watchdog.discard()
        for signum, handler in saved.items():
            if handler is not None:
                _signal.signal(signum, handler)  # type: ignore[arg-type]
        raise
    argv, ready = early.argv, early.ready
    if group.child_args is not None:  # in the forked child: the command, and nothing else
        return group.child_args
    with _guard:
        _group, _started = group, (early.app, argv, ready)
    import atexit  # a built-in module: no file to read

    atexit.register(discard)
    _say(f"started command {' '.join(argv)} while booting (pid {group.proc.pid})")
    _let_it_start(check, group)
    return None


def _let_it_start(check: readiness.Check, group: cmdproc.Supervised) -> None:
    """Wait, ``HEAD_START`` s at most, for the command's ready check before booting on.

    The node's boot (20-40 ms of CPU) would otherwise compete with the server's
    own start for the same cores, and on a busy machine for the same share of
    them (one session, one scheduling group): it comes after instead. A stop
    (``pending``) or the child's end cuts the wait short; the command
    application's own check, after the boot, judges the result.
    """
    if check.spec == "started":
        return
    import time  # a built-in module

    from pyrelease.node import readiness

    deadline = time.monotonic() + HEAD_START
    pause = readiness.FIRST_POLL
    try:
        while pending is None and group.proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0 or check.poll(left):
                return
            time.sleep(min(pause, max(deadline - time.monotonic(), 0.0)))
            pause = min(pause * 2, readiness.POLL)
    except Exception:  # the boot goes on; the command application checks again
        return


def _note_stop(signum: int, _frame: object) -> None:
    global pending
    if pending is None:
        pending = signum


def _say(message: str) -> None:
    try:
        print(f"[node] {message}", flush=True)
    except (OSError, ValueError):
        pass


def take_lock() -> int | None:
    """The node's lock taken by :func:`begin` (its descriptor), once; None if it took none."""
    global _lock
    fd, _lock = _lock, None
    return fd


def adopt(app: str, argv: list[str], ready: str) -> cmdproc.Supervised | None:
    """The child started by :func:`begin` for application ``app``, if it runs that very
    command with that readiness check; None otherwise (the caller starts one)."""
    global _group
    with _guard:
        group, started = _group, _started
        if group is None or started is None or started[0] != app:
            return None
        _group = None
    if started[1:] != (argv, ready):  # the boot manifest says otherwise: not this child
        group.stop()
        return None
    return group


def discard() -> None:
    """Stop and reap the child started by :func:`begin` if no application adopted it."""
    global _group
    with _guard:
        group, _group = _group, None
    if group is None:
        return
    if group.proc.poll() is None and _started is not None:
        _say(f"stopping command {' '.join(_started[1])}: the node did not finish booting")
    group.stop()
