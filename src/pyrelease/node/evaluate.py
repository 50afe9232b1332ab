"""``eval``: run code in a fresh node, the release on the path and its
configuration loaded, no application started.

Apart from ``main`` (which starts nodes: threads, signals, the control server,
application callbacks) so that ``bin/NAME eval`` imports only what loading the
release and its configuration needs: no ``json``, ``re``, ``copy``,
``threading`` or ``importlib`` until the code itself imports them.
"""

import os
import sys

from pyrelease.node import boot, bootgc, configload, manifest, providers, vmargs
from pyrelease.node.releaseenv import Env, EnvError


class EvalError(Exception):
    """``eval`` was called wrongly; printed as one ``ERROR:`` line, exit status 1."""


USER_ERRORS = (
    EvalError,
    EnvError,
    manifest.ManifestError,
    configload.BootConfigError,
    vmargs.VmArgsError,
    providers.ProviderError,
)


def cmd_eval(env: "Env", argv: list[str]) -> int:
    """Run code in a fresh node: release on the path, config loaded, nothing started."""
    if not argv:
        raise EvalError("EVAL expects an expression as argument")
    boot.load_node(env, env.boot_script_clean, configload.boot_settings(env.vsn_dir))
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


def main(argv: list[str]) -> int:
    """``eval CODE`` as ``bin/NAME`` runs it (``argv[0]`` is ``eval``); the exit status."""
    try:
        env = Env(os.environ)
        env.export()
        vm = vmargs.load(env.vm_args)
        if vm.needs_reexec():
            vmargs.reexec(vm, os.path.abspath(sys.argv[0]), argv)
        vm.apply()
        return cmd_eval(env, argv[1:])
    except USER_ERRORS as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
