"""The node's commands, as dispatched by ``bin/NAME`` (``start``, ``eval``, ...).

``bin/NAME`` has already set the ``RELEASE_*`` variables (and run ``env.sh``);
this module reads them, boots and runs the command. User errors print one
``ERROR: ...`` line on stderr and exit 1.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import signal
import sys
import time
import traceback
from typing import Any

from pyrelease.node import appconfig, boot, configload, manifest, notify, providers, vmargs
from pyrelease.node.applications import Controller, ReleaseInfo, decide


class NodeError(Exception):
    """A problem the user must fix; printed as one line, exit status 1."""


USER_ERRORS = (
    NodeError,
    manifest.ManifestError,
    configload.BootConfigError,
    vmargs.VmArgsError,
    providers.ProviderError,
)


def log(message: str) -> None:
    """Write a node message to stdout (the release's log)."""
    print(f"[node] {message}", flush=True)


class Env:
    """The ``RELEASE_*`` variables, with the defaults ``bin/NAME`` also applies."""

    def __init__(self, environ: os._Environ[str] | dict[str, str]) -> None:
        try:
            self.root = environ["RELEASE_ROOT"]
            self.name = environ["RELEASE_NAME"]
            self.vsn = environ["RELEASE_VSN"]
        except KeyError as exc:
            raise NodeError(
                f"{exc.args[0]} is not set: start the release with its bin/ script"
            ) from None
        self.vsn_dir = os.path.join(self.root, "releases", self.vsn)
        self.mode = environ.get("RELEASE_MODE", "embedded")
        if self.mode not in ("embedded", "interactive"):
            raise NodeError(f"RELEASE_MODE must be embedded or interactive, got {self.mode!r}")
        self.tmp = environ.get("RELEASE_TMP") or os.path.join(self.root, "tmp")
        self.boot_script = environ.get("RELEASE_BOOT_SCRIPT", "start")
        self.boot_script_clean = environ.get("RELEASE_BOOT_SCRIPT_CLEAN", "start_clean")
        self.sys_config = environ.get("RELEASE_SYS_CONFIG") or os.path.join(self.vsn_dir, "sys")
        self.vm_args = environ.get("RELEASE_VM_ARGS") or os.path.join(self.vsn_dir, "vm.args")


def check_python(m: manifest.Manifest) -> None:
    """A release built without its runtime needs exactly the Python it was built with."""
    if not m.include_runtime and platform.python_version() != m.python_version:
        raise NodeError(
            f"this release was built for Python {m.python_version} but {sys.executable} is "
            f"{platform.python_version()}; install that exact version or build the release "
            "with include_runtime = true"
        )


def load_node(env: Env, script: str) -> tuple[manifest.Manifest, dict[str, Any]]:
    """Read the boot manifest, set up ``sys.path`` and compute the configuration."""
    m = manifest.load(os.path.join(env.vsn_dir, script + ".json"))
    check_python(m)
    boot.setup_paths(env.root, m)
    config = configload.compute(env.vsn_dir, env.sys_config + ".config", m.env)
    appconfig.set_current(config, env=m.env)
    return m, config


def maybe_reboot_after_config(env: Env, config: dict[str, Any], argv: list[str]) -> None:
    """``reboot_system_after_config``: write the computed config and start afresh with it."""
    settings = configload.read_json(os.path.join(env.vsn_dir, "boot.json"), "boot settings")
    if not settings.get("reboot_system_after_config") or os.environ.get(
        "PYRELEASE_CONFIG_COMPUTED"
    ):
        return
    os.makedirs(env.tmp, exist_ok=True)
    base = os.path.join(env.tmp, f"{env.name}-{env.vsn}-{time.time_ns()}.runtime.sys")
    with open(base + ".config", "w", encoding="utf-8") as f:
        json.dump(config, f, sort_keys=True)
    os.environ["RELEASE_SYS_CONFIG"] = base
    os.environ["PYRELEASE_CONFIG_COMPUTED"] = "1"
    if settings.get("prune_runtime_sys_config_after_boot"):
        os.environ["PYRELEASE_PRUNE_SYS_CONFIG"] = base + ".config"
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def cmd_start(env: Env, argv: list[str]) -> int:
    """Boot the node in the foreground and run until stopped."""
    began = time.monotonic()
    m, config = load_node(env, env.boot_script)
    maybe_reboot_after_config(env, config, argv)
    prune = os.environ.pop("PYRELEASE_PRUNE_SYS_CONFIG", None)
    if env.mode == "embedded":
        boot.preload(m, lambda mod, exc: log(f"preloading {mod} failed: {exc!r}"))
    events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()

    def on_signal(signum: int, _frame: object) -> None:
        events.put(("signal", signum))

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = ReleaseInfo(m.name, m.version, env.root, m.env)
    controller = Controller(m.applications, config, info, log, events)
    shutdown_timeout = vmargs.load(env.vm_args).shutdown_timeout
    failed = controller.start_all()
    if failed is not None:
        log(f"application {failed.entry.name} failed to start; stopping the node")
        controller.stop_all(shutdown_timeout)
        return 1
    if prune:
        os.unlink(prune)
    log(f"{m.name} {m.version} started in {(time.monotonic() - began) * 1000:.0f} ms")
    notify.notify(f"READY=1\nMAINPID={os.getpid()}")
    return run_loop(controller, events, shutdown_timeout)


def run_loop(
    controller: Controller, events: queue.SimpleQueue[tuple[str, Any]], timeout: float
) -> int:
    """Wait for signals and application ends; return the node's exit status."""
    while True:
        kind, payload = events.get()
        if kind == "signal":
            log(f"received {signal.Signals(payload).name}, stopping")
            notify.notify("STOPPING=1")
            controller.stop_all(timeout)
            return 0
        if kind == "ended":
            app = payload
            how = "normally" if app.outcome == "normal" else "abnormally"
            status = decide(app)
            if status is None:
                log(f"application {app.entry.name} ({app.entry.mode}) ended {how}")
                continue
            log(f"application {app.entry.name} ({app.entry.mode}) ended {how}; stopping the node")
            notify.notify("STOPPING=1")
            controller.stop_all(timeout)
            return status


def cmd_eval(env: Env, argv: list[str]) -> int:
    """Run code in a fresh node: release on the path, config loaded, nothing started."""
    if not argv:
        raise NodeError("EVAL expects an expression as argument")
    load_node(env, env.boot_script_clean)
    code = compile(argv[0], "<eval>", "exec")
    try:
        exec(code, {"__name__": "__main__"})
    except SystemExit:
        raise
    except BaseException as exc:
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


COMMANDS = {
    "start": cmd_start,
    "eval": cmd_eval,
    "daemon": cmd_daemon,
    "daemon_iex": cmd_daemon_iex,
}


def main(argv: list[str]) -> int:
    """Run ``argv[0]`` with the rest as its arguments; return the exit status."""
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        env = Env(os.environ)
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
