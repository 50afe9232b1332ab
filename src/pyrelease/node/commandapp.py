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
   (see :mod:`cmdproc`, which holds the process side), not ``subprocess``,
   whose import is a few milliseconds of every command application's start;
5. the node is ready once the ``ready`` check passes (:mod:`readiness`).

When the release allows it, the node has started the child at the very
beginning of its boot (see :mod:`earlystart`); the first start then adopts
that child instead of starting another one.

A stop sends SIGTERM to the child, SIGKILL to the group after the shutdown
timeout. SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN and SIGTTOU sent to the node are
forwarded to the children (gunicorn's reload, re-exec and scaling signals).
"""

from __future__ import annotations

import os
import signal
import sys

from pyrelease.node import jsonframe, readiness
from pyrelease.node.cmdproc import CommandFailed, Supervised, expand, resolve

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

__all__ = ["CommandFailed", "expand", "install_forwarding", "resolve", "settings", "start"]


def install_forwarding() -> None:
    """Forward the node's HUP/USR1/USR2/TTIN/TTOU to every running child (main thread only)."""
    from pyrelease.node import cmdproc

    cmdproc.install_forwarding()


def settings(name: str) -> dict[str, Any]:
    """This command's settings from the boot manifest the node booted with
    (``name`` is the application's configuration key)."""
    root, vsn = os.environ["RELEASE_ROOT"], os.environ["RELEASE_VSN"]
    script = os.environ.get("RELEASE_BOOT_SCRIPT", "start")
    path = os.path.join(root, "releases", vsn, script + ".json")
    commands = jsonframe.load_file(path)["commands"]  # json.load without importing json
    from pyrelease.node.appconfig import normalize_app

    return next(v for k, v in commands.items() if normalize_app(k) == name)


def start(ctx: Any) -> None:
    """Run the command until it ends or the node stops it (the application's start callable)."""
    early = sys.modules.get("pyrelease.node.earlystart")  # started before the boot?
    try:
        spec = settings(ctx.name)
        what = f"command {' '.join(spec['argv'])}"
        argv = [expand(arg, os.environ, what) for arg in spec["argv"]]
        what = f"command {' '.join(argv)}"
        try:
            check = readiness.parse(expand(spec.get("ready", "started"), os.environ, what),
                                    os.environ.get("RELEASE_TMP", ""))  # fmt: skip
        except readiness.NotReady as exc:
            raise CommandFailed(str(exc)) from None
    except BaseException:
        if early is not None:
            early.discard()
        raise
    child = early.adopt(ctx.name, argv, check.spec) if early is not None else None
    if child is None:
        child = Supervised(resolve(argv, what), check.environ())
    ctx.on_stop(child.stop)
    try:
        # "started" passed when it started, even if it is gone by now (started before
        # the boot, see earlystart): its end is then judged as an end, not a failed start.
        if check.spec != "started" or ctx.stopping.is_set():
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
