"""``eval``: run code in a fresh node, the release on the path and its
configuration loaded, no application started.

Apart from ``main`` (which starts nodes: threads, signals, the control server,
application callbacks) so that ``bin/NAME eval`` imports only what loading the
release and its configuration needs: no ``json``, ``re``, ``copy``,
``threading`` or ``importlib`` until the code itself imports them. The boot
files come from what the build cached (``bootcache``), and the code is run
with ``exec`` of its text: the ``compile()`` built-in would first build the
``ast`` node classes, about a millisecond (tracebacks name the code
``<string>``, as ``python -c`` does).
"""

import os
import sys

from pyrelease.node import boot, bootgc, configload, manifest, vmargs
from pyrelease.node.releaseenv import Env, EnvError


class EvalError(Exception):
    """``eval`` was called wrongly; printed as one ``ERROR:`` line, exit status 1."""


USER_ERRORS = (
    EvalError,
    EnvError,
    manifest.ManifestError,
    configload.BootConfigError,
    vmargs.VmArgsError,
)


def cmd_eval(env: "Env", argv: list[str]) -> int:
    """Run code in a fresh node: release on the path, config loaded, nothing started.

    Returns the exit status; when the interpreter's finalization has nothing
    to do for the code, leaves at once instead (see :func:`leave_early`).
    """
    if not argv:
        raise EvalError("EVAL expects an expression as argument")
    boot.load_node(env, env.boot_script_clean, configload.boot_settings(env.vsn_dir))
    bootgc.settle(vmargs.load(env.vm_args).gc_threshold)
    namespace = {"__name__": "__main__"}
    modules = set(sys.modules)
    status = 0
    try:
        # Compiled in here: a SyntaxError is reported like any other error of the code.
        exec(argv[0], namespace)
    except SystemExit:
        raise
    except BaseException as exc:
        import traceback

        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
        status = 1
    leave_early(status, namespace, modules)
    return status


def leave_early(status: int, namespace: "dict[str, object]", modules: "set[str]") -> None:
    """Exit with ``status`` now, without the interpreter's finalization, when it is safe.

    Finalizing an interpreter that loaded a release costs more than running
    ``1`` in it. It is skipped only when it has nothing to do for the code:
    the code imported no module (so it started no thread and holds nothing of
    a library), and no ``atexit`` function is registered. What the code left
    in its namespace is released and collected first, as the interpreter's
    exit would (an unclosed file is flushed), then the output is flushed;
    should that fail (a closed pipe), the normal exit reports it. Otherwise
    this returns and the interpreter exits as usual.
    """
    if not set(sys.modules) <= modules:
        return
    import atexit  # built in

    if atexit._ncallbacks():
        return
    namespace.clear()
    import gc

    gc.collect()  # the boot's objects are frozen (bootgc.settle): only the code's are seen
    try:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            if stream is not None:  # the originals too, should the code have replaced them
                stream.flush()
    except BaseException:
        return
    os._exit(status)


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
