"""The node's commands, as dispatched by ``bin/NAME`` (``start``, ``eval``, ...).

``bin/NAME`` has already set the ``RELEASE_*`` variables (and run ``env.sh``);
this module reads them, boots and runs the command. User errors print one
``ERROR: ...`` line on stderr and exit 1.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from _queue import SimpleQueue  # queue.SimpleQueue, without queue.py and heapq

from pyrelease.node import (
    appconfig,
    boot,
    bootgc,
    configload,
    cookie,
    manifest,
    nodelock,
    notify,
    output,
    providers,
    vmargs,
)
from pyrelease.node.applications import Controller, ReleaseInfo, StopRequested, decide
from pyrelease.node.evaluate import EvalError, cmd_eval
from pyrelease.node.releaseenv import AlreadyRunning, Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    import queue
    from collections.abc import Callable
    from typing import Any


class NodeError(Exception):
    """A problem the user must fix; printed as one line, exit status 1."""


USER_ERRORS = (
    NodeError,
    EvalError,
    EnvError,
    AlreadyRunning,
    manifest.ManifestError,
    configload.BootConfigError,
    vmargs.VmArgsError,
    providers.ProviderError,
)


def log(message: str) -> None:
    """Write a node message to stdout (the release's log)."""
    print(f"[node] {message}", flush=True)


def cmd_start(env: Env, argv: list[str], *, repl: bool = False) -> int:
    """Boot the node in the foreground and run until stopped (``start``, ``start_iex``).

    A stop (SIGTERM, SIGINT, ``bin/NAME stop``) is obeyed at any moment: while
    the runtime configuration or the preloading runs, it interrupts the boot;
    while an application starts, it stops what has started, in reverse order.
    """
    began = time.monotonic()
    output.protect()
    env.check_distribution()
    node = Node(env)
    signal.signal(signal.SIGTERM, node.on_signal)
    signal.signal(signal.SIGINT, node.on_signal)
    early = sys.modules.get("pyrelease.node.earlystart")  # the command started already
    try:
        node.lock = early.take_lock() if early is not None else None
        if node.lock is None:
            node.lock = nodelock.acquire(env)  # before anything else: one node per name
        if early is not None and early.pending is not None:
            node.on_signal(early.pending, None)  # came before these handlers: a stop
        m = node.boot()
    except StopRequested as stop:
        log(f"received {stop.why} while booting, stopping")
        return node.exit(0)
    assert node.controller is not None
    try:
        failed = node.controller.start_all()
    except StopRequested as stop:
        log(f"received {stop.why} while starting, stopping")
        return node.exit(node.stop(0, requested=True))
    if failed is not None:
        log(f"application {failed.entry.name} failed to start; stopping the node")
        return node.exit(node.stop(1))
    bootgc.settle(node.vm.gc_threshold)
    if node.prune:
        os.unlink(node.prune)
    log(f"{m.name} {m.version} started in {(time.monotonic() - began) * 1000:.0f} ms")
    notify.notify(f"READY=1\nMAINPID={os.getpid()}")
    if repl:
        threading.Thread(target=node.console, name="start_iex", daemon=True).start()
    return node.exit(node.run_loop(m.env))


def _leave(code: int | None = None) -> None:
    """``exit()``/``quit()`` in the REPL (``-S`` means ``site`` did not define them)."""
    raise SystemExit(code)


class Node:
    """The running node: its applications, control channel and main loop."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.events: queue.SimpleQueue[tuple[str, Any]] = SimpleQueue()
        self.server: Any = None  # a server.ControlServer once the channel is up
        self.controller: Controller | None = None
        self.shutdown_timeout = 15.0
        self.settings: dict[str, Any] = {}
        self.lock: int | None = None
        self.vm: vmargs.VmArgs | None = None
        self.prune: str | None = None
        # While True, a stop raises StopRequested in the main thread (the boot's
        # blocking parts: runtime config, preloading); otherwise it is queued.
        self.interruptible = False
        self.stop_why: str | None = None  # the first stop asked for, while booting

    def boot(self) -> manifest.Manifest:
        """Compute the configuration, open the channel, preload; ready to start apps."""
        env = self.env
        settings = self.settings = configload.boot_settings(env.vsn_dir)  # read once per boot
        if env.distribution != "none" and settings.get("start_distribution_during_config"):
            self.start_channel()
        m, config = self.interruptible_call(boot.load_node, env, env.boot_script, settings)
        self.check_stop()
        boot.maybe_reboot_after_config(env, config, settings, self.lock)
        self.prune = os.environ.pop("PYRELEASE_PRUNE_SYS_CONFIG", None)
        if env.distribution != "none" and self.server is None:
            self.start_channel()
        if env.mode == "embedded":
            self.interruptible_call(boot.preload, m, log)
        self.check_stop()
        info = ReleaseInfo(m.name, m.version, env.root, m.env)
        self.controller = Controller(m.applications, config, info, log, self.events)
        self.vm = vmargs.load(env.vm_args)
        self.shutdown_timeout = self.vm.shutdown_timeout
        return m

    def interruptible_call(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run boot code that may block (user code): a stop interrupts it."""
        self.check_stop()
        self.interruptible = True
        try:
            return fn(*args)
        finally:
            self.interruptible = False

    def check_stop(self) -> None:
        """Raise :class:`StopRequested` when a stop came while booting."""
        if self.stop_why is not None:
            raise StopRequested(self.stop_why)

    def start_channel(self) -> None:
        """Listen for management commands (``rpc``, ``stop``...), cookie-authenticated."""
        from pyrelease.node.server import ControlServer

        output.install()
        secret = cookie.ensure_cookie(self.env.root)
        self.server = ControlServer(self.env, secret, self.request, log)
        self.server.start()

    def on_signal(self, signum: int, _frame: object) -> None:
        """SIGTERM/SIGINT: queue a stop for the main loop, or interrupt the boot."""
        why = signal.Signals(signum).name
        if self.stop_why is None:
            self.stop_why = why
        self.events.put(("signal", signum))
        if self.interruptible:
            self.interruptible = False
            raise StopRequested(self.stop_why)

    def request(self, op: str) -> str | None:
        """Called by the control channel's threads: queue the work for the main loop."""
        if op == "stop":
            if self.stop_why is None:
                self.stop_why = "a stop request"
            self.events.put(("stop", None))
            if self.interruptible and hasattr(signal, "pthread_kill"):
                # The main thread runs boot code (runtime config, preloading): interrupt it.
                signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
            return None
        done: dict[str, Any] = {"event": threading.Event(), "error": None}
        self.events.put(("restart", done))
        done["event"].wait()
        return done["error"]

    def console(self) -> None:
        """``start_iex``: a REPL on the node's terminal; leaving it stops the node."""
        import code

        try:
            import readline  # noqa: F401 - line editing when the runtime has it
        except ImportError:
            pass
        try:
            code.interact(
                banner=f"{self.env.name} {self.env.vsn} (Ctrl-D or exit() stops the node)",
                local={"exit": _leave, "quit": _leave},
            )
        finally:  # EOF, exit() or raise SystemExit: leaving the REPL stops the node
            self.events.put(("stop", None))

    def run_loop(self, env_name: str) -> int:
        """Wait for signals, requests and application ends; return the exit status."""
        assert self.controller is not None
        while True:
            kind, payload = self.events.get()
            if kind in ("signal", "stop"):
                why = signal.Signals(payload).name if kind == "signal" else "a stop request"
                log(f"received {why}, stopping")
                return self.stop(0, requested=True)
            if kind == "restart":
                payload["error"] = self.restart(env_name)
                payload["event"].set()
                if payload["error"] is not None:
                    return self.stop(1)
                continue
            if kind != "ended":
                continue  # a late "woke": nothing to do
            app = payload
            how = "normally" if app.outcome == "normal" else "abnormally"
            status = decide(app)
            if status is None:
                log(f"application {app.entry.name} ({app.entry.mode}) ended {how}")
                continue
            log(f"application {app.entry.name} ({app.entry.mode}) ended {how}; stopping the node")
            return self.stop(status)

    def stop(self, status: int, *, requested: bool = False) -> int:
        """Stop every application; the exit status, 1 when one did not stop in time.

        ``requested``: someone asked for the stop (a signal, ``bin/NAME stop``),
        which tells a daemon's supervisor not to restart the node (heart).
        """
        assert self.controller is not None
        notify.notify("STOPPING=1\nX_PYRELEASE_STOP=requested" if requested else "STOPPING=1")
        stuck = self.controller.stop_all(self.shutdown_timeout)
        if stuck:
            names = ", ".join(stuck)
            log(
                f"node stopped, but application{'s' if len(stuck) > 1 else ''} {names} did not "
                f"stop within {self.shutdown_timeout:g}s (--shutdown-timeout); exit status 1"
            )
            return 1
        return status

    def restart(self, env_name: str) -> str | None:
        """Stop every application and start them again in this process, config recomputed."""
        assert self.controller is not None
        log("restarting")
        stuck = self.controller.stop_all(self.shutdown_timeout)
        if stuck:
            return f"application {', '.join(stuck)} did not stop"
        try:
            config = configload.compute(
                self.env.vsn_dir, self.env.sys_config + ".config", env_name, self.settings
            )
        except configload.BootConfigError as exc:
            return str(exc)
        appconfig.set_current(config, env=env_name)
        self.controller.config = config
        try:
            failed = self.controller.start_all()
        except StopRequested:
            self.events.put(("stop", None))  # the main loop stops the node next
            return "a stop was requested while restarting"
        if failed is not None:
            return f"application {failed.entry.name} failed to start"
        log("restarted")
        return None

    def exit(self, status: int) -> int:
        """Leave at once: close the channel, run atexit handlers, flush, ``_exit``.

        Waiting for interpreter finalisation (and for any non-daemon thread an
        application left behind) would make ``stop`` slow; ``_exit`` also closes
        the connection a ``stop`` caller waits on, telling it the node is gone.
        """
        if self.server is not None:
            self.server.close()
        early = sys.modules.get("pyrelease.node.earlystart")
        if early is not None:
            early.discard()  # its command, if never adopted: before the lock is let go
        if self.lock is not None:
            nodelock.release(self.env, self.lock)
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


def cmd_daemon(env: Env, argv: list[str]) -> int:
    """``daemon``: a detached node under a supervisor (see ``node/daemon.py``)."""
    from pyrelease.node import daemon

    return daemon.cmd_daemon(env, argv, iex=False)


def cmd_daemon_iex(env: Env, argv: list[str]) -> int:
    """``daemon_iex``: like ``daemon``, with a REPL reachable through ``tmp/pipe/``."""
    from pyrelease.node import daemon

    return daemon.cmd_daemon(env, argv, iex=True)


def cmd_start_iex(env: Env, argv: list[str]) -> int:
    """``start_iex``: ``start`` with a Python REPL on the terminal."""
    return cmd_start(env, argv, repl=True)


def cmd_attach(env: Env, argv: list[str]) -> int:
    """``attach``: follow a ``daemon_iex`` node's log and type into its REPL (``to_erl``)."""
    from pyrelease.node.attach import attach

    return attach(env)


COMMANDS = {
    "attach": cmd_attach,
    "start": cmd_start,
    "start_iex": cmd_start_iex,
    "eval": cmd_eval,
    "daemon": cmd_daemon,
    "daemon_iex": cmd_daemon_iex,
}


def main(argv: list[str]) -> int:
    """Run ``argv[0]`` with the rest as its arguments; return the exit status."""
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        env = Env(os.environ)
        env.export()
        vm = vmargs.load(env.vm_args)
        if command in ("start", "start_iex", "eval") and vm.needs_reexec():
            vmargs.reexec(vm, os.path.abspath(sys.argv[0]), argv)
        vm.apply()
        handler = COMMANDS.get(command)
        if handler is None:
            raise NodeError(f"Unknown command {command}")
        return handler(env, rest)
    except USER_ERRORS as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
