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

A Python program starts in the node's fork made for it by ``__main__``
(see ``zygote``), which is handed the command here instead of a new
interpreter being spawned for it.

Imports only what starting the child needs (``cmdproc``, ``nodelock``,
``readiness`` without ``socket``): everything else the node imports after.
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
    from pyrelease.node.zygote import Zygote

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


def begin(zygote: Zygote | None = None) -> bool:
    """Start the command now if this release and this boot allow it; True when started.

    ``zygote``: the node's fork made for it (see ``zygote.py``), used when the
    command is a Python program on this interpreter, and cancelled otherwise.
    """
    try:
        return _begin(zygote)
    except Exception:  # the normal path starts it, or says what is wrong
        return False
    finally:
        if zygote is not None:
            zygote.cancel()  # nothing if it was handed the command


def _begin(zygote: Zygote | None) -> bool:
    environ = os.environ
    root, vsn = environ.get("RELEASE_ROOT"), environ.get("RELEASE_VSN")
    if not root or not vsn:
        return False
    script = environ.get("RELEASE_BOOT_SCRIPT") or "start"
    plan_file = os.path.join(root, "releases", vsn, script + ".command")
    env = Env(environ)
    env.check_distribution()
    vm = vmargs.load(env.vm_args)
    if vm.needs_reexec():
        return False  # this process is replaced: the next image starts the command
    if vm.interpreter or vm.hash_seed is not None:
        if zygote is not None:  # a fresh interpreter would not be this one: spawn it
            zygote.cancel()
        zygote = None
    return _start(plan_file, env, zygote)


def _start(plan_file: str, env: Env, zygote: Zygote | None) -> bool:
    """Start the command the plan in ``plan_file`` gives, in ``zygote`` when it can."""
    global _group, _started, _lock
    from pyrelease.node import jsonframe, nodelock, readiness

    environ = os.environ
    try:
        plan = jsonframe.load_file(plan_file)
    except (OSError, ValueError):
        return False  # unreadable: the normal path
    if not isinstance(plan, dict) or plan.get("format") != PLAN_FORMAT:
        return False
    if zygote is not None and plan.get("fork") is not True:
        zygote.cancel()  # the build said a new interpreter (a title setter in the release)
        zygote = None
    env.export()  # RELEASE_DATA and RELEASE_TMP, as the child gets them
    _lock = nodelock.acquire(env)  # first: a second node must not start a second server
    template: list[str] = plan["argv"]
    what = f"command {' '.join(template)}"
    argv = [cmdproc.expand(arg, environ, what) for arg in template]
    what = f"command {' '.join(argv)}"
    ready = cmdproc.expand(plan.get("ready", "started"), environ, what)
    if ready == "notify":
        return False  # its socket is the node's to create
    check = readiness.parse(ready, environ.get("RELEASE_TMP", ""))
    program = cmdproc.resolve(argv, what)
    # The dispositions the child inherits are those of a booted node: TERM and INT
    # caught (a stop asked for now is the node's, see ``pending``), the forwarded ones too.
    taken = [*STOP_SIGNALS, *(getattr(_signal, name) for name in cmdproc.FORWARDED)]
    saved = {signum: _signal.getsignal(signum) for signum in taken}
    for signum in STOP_SIGNALS:
        _signal.signal(signum, _note_stop)
    cmdproc.install_forwarding()
    try:
        group = cmdproc.Supervised(program, check.environ(), zygote=zygote)
    except BaseException:
        for signum, handler in saved.items():
            if handler is not None:
                _signal.signal(signum, handler)
        raise
    with _guard:
        _group, _started = group, (str(plan["app"]), argv, ready)
    import atexit  # a built-in module: no file to read

    atexit.register(discard)
    _say(f"started command {' '.join(argv)} while booting (pid {group.proc.pid})")
    _let_it_start(check, group)
    return True


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
