"""The node's commands, as dispatched by ``bin/NAME`` (``start``, ``eval``, ...).

``bin/NAME`` has already set the ``RELEASE_*`` variables (and run ``env.sh``);
this module reads them, boots and runs the command. User errors print one
``ERROR: ...`` line on stderr and exit 1.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sys
import threading
import time

from pyrelease.node import (
    appconfig,
    boot,
    bootgc,
    configload,
    cookie,
    manifest,
    notify,
    output,
    providers,
    vmargs,
)
from pyrelease.node.applications import Controller, ReleaseInfo, decide
from pyrelease.node.releaseenv import AlreadyRunning, Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any


class NodeError(Exception):
    """A problem the user must fix; printed as one line, exit status 1."""


USER_ERRORS = (
    NodeError,
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


def check_python(m: manifest.Manifest) -> None:
    """A release built without its runtime needs exactly the Python it was built with."""
    if m.include_runtime:
        return
    import platform  # ~1.5-4 ms: only imported when there is something to check

    if platform.python_version() != m.python_version:
        raise NodeError(
            f"this release was built for Python {m.python_version} but {sys.executable} is "
            f"{platform.python_version()}; install that exact version or build the release "
            "with include_runtime = true"
        )


def load_node(
    env: Env, script: str, settings: dict[str, Any]
) -> tuple[manifest.Manifest, dict[str, Any]]:
    """Read the boot manifest, set up ``sys.path`` and compute the configuration."""
    m = manifest.load(os.path.join(env.vsn_dir, script + ".json"))
    check_python(m)
    boot.setup_paths(env.root, m)
    config = configload.compute(env.vsn_dir, env.sys_config + ".config", m.env, settings)
    appconfig.set_current(config, env=m.env)
    return m, config


def maybe_reboot_after_config(env: Env, config: dict[str, Any], settings: dict[str, Any]) -> None:
    """``reboot_system_after_config``: write the computed config and start afresh with it."""
    if not settings.get("reboot_system_after_config") or os.environ.get(
        "PYRELEASE_CONFIG_COMPUTED"
    ):
        return
    from pyrelease.node import safefiles

    safefiles.check_tmp(env.tmp)
    base = os.path.join(env.tmp, f"{env.name}-{env.vsn}-{time.time_ns()}.runtime.sys")
    data = json.dumps(config, sort_keys=True).encode()
    if not safefiles.create_new(base + ".config", data, 0o600):
        raise NodeError(f"{base}.config already exists: is another node booting?")
    os.environ["RELEASE_SYS_CONFIG"] = base
    os.environ["PYRELEASE_CONFIG_COMPUTED"] = "1"
    if settings.get("prune_runtime_sys_config_after_boot"):
        os.environ["PYRELEASE_PRUNE_SYS_CONFIG"] = base + ".config"
    os.execv(boot.RUNTIME_EXECUTABLE, [boot.RUNTIME_EXECUTABLE, *sys.orig_argv[1:]])


def cmd_start(env: Env, argv: list[str], *, repl: bool = False) -> int:
    """Boot the node in the foreground and run until stopped (``start``, ``start_iex``)."""
    began = time.monotonic()
    env.check_distribution()
    node = Node(env)
    settings = node.settings = configload.boot_settings(env.vsn_dir)  # read once per boot
    if env.distribution != "none" and settings.get("start_distribution_during_config"):
        node.start_channel()
    m, config = load_node(env, env.boot_script, settings)
    maybe_reboot_after_config(env, config, settings)
    prune = os.environ.pop("PYRELEASE_PRUNE_SYS_CONFIG", None)
    if env.distribution != "none" and node.server is None:
        node.start_channel()
    if env.mode == "embedded":
        boot.preload(m, log)
    signal.signal(signal.SIGTERM, node.on_signal)
    signal.signal(signal.SIGINT, node.on_signal)
    info = ReleaseInfo(m.name, m.version, env.root, m.env)
    node.controller = Controller(m.applications, config, info, log, node.events)
    vm = vmargs.load(env.vm_args)
    node.shutdown_timeout = vm.shutdown_timeout
    failed = node.controller.start_all()
    if failed is not None:
        log(f"application {failed.entry.name} failed to start; stopping the node")
        node.controller.stop_all(node.shutdown_timeout)
        return node.exit(1)
    bootgc.settle(vm.gc_threshold)
    if prune:
        os.unlink(prune)
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
        self.events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.server: Any = None  # a server.ControlServer once the channel is up
        self.controller: Controller | None = None
        self.shutdown_timeout = 15.0
        self.settings: dict[str, Any] = {}

    def start_channel(self) -> None:
        """Listen for management commands (``rpc``, ``stop``...), cookie-authenticated."""
        from pyrelease.node.server import ControlServer

        output.install()
        secret = cookie.ensure_cookie(self.env.root)
        self.server = ControlServer(self.env, secret, self.request, log)
        self.server.start()

    def on_signal(self, signum: int, _frame: object) -> None:
        """SIGTERM/SIGINT: queue a stop for the main loop."""
        self.events.put(("signal", signum))

    def request(self, op: str) -> str | None:
        """Called by the control channel's threads: queue the work for the main loop."""
        if op == "stop":
            self.events.put(("stop", None))
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
                return self._stop(0)
            if kind == "restart":
                payload["error"] = self.restart(env_name)
                payload["event"].set()
                if payload["error"] is not None:
                    return self._stop(1)
                continue
            app = payload
            how = "normally" if app.outcome == "normal" else "abnormally"
            status = decide(app)
            if status is None:
                log(f"application {app.entry.name} ({app.entry.mode}) ended {how}")
                continue
            log(f"application {app.entry.name} ({app.entry.mode}) ended {how}; stopping the node")
            return self._stop(status)

    def _stop(self, status: int) -> int:
        assert self.controller is not None
        notify.notify("STOPPING=1")
        self.controller.stop_all(self.shutdown_timeout)
        return status

    def restart(self, env_name: str) -> str | None:
        """Stop every application and start them again in this process, config recomputed."""
        assert self.controller is not None
        log("restarting")
        self.controller.stop_all(self.shutdown_timeout)
        try:
            config = configload.compute(
                self.env.vsn_dir, self.env.sys_config + ".config", env_name, self.settings
            )
        except configload.BootConfigError as exc:
            return str(exc)
        appconfig.set_current(config, env=env_name)
        self.controller.config = config
        failed = self.controller.start_all()
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
        import atexit

        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(status)


def cmd_eval(env: Env, argv: list[str]) -> int:
    """Run code in a fresh node: release on the path, config loaded, nothing started."""
    if not argv:
        raise NodeError("EVAL expects an expression as argument")
    load_node(env, env.boot_script_clean, configload.boot_settings(env.vsn_dir))
    bootgc.settle(vmargs.load(env.vm_args).gc_threshold)
    code = compile(argv[0], "<eval>", "exec")
    try:
        exec(code, {"__name__": "__main__"})
    except SystemExit:
        raise
    except BaseException as exc:
        import traceback

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
        return 1
    return 0


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
