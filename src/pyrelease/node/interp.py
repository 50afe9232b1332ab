"""The release's own interpreter: ``bin/NAME python``, ``bin/NAME exec`` and ``sys.executable``.

``python ARGS`` behaves like CPython's ``python ARGS`` (``-c``, ``-m``, a
script, ``-`` or a REPL) with the release's code on the path and its
configuration computed as for ``eval``; no application is started. It is also
what ``releases/VSN/bin/python`` runs, the release-aware ``sys.executable``: a
child started with it (``multiprocessing``, ``subprocess.run([sys.executable,
"-m", ...])``, gunicorn's re-exec, uvicorn's worker supervisor) sees the
release's distributions and nothing of the host, and the caller's working
directory never shadows them (the interpreter is isolated, as with ``-I``).

``exec SCRIPT ARGS`` runs a console script of the release
(``releases/VSN/bin/SCRIPT``); ``exec -m MODULE ARGS`` is ``python -m``.

Nothing here calls the ``compile()`` built-in on the way to the user's code:
its first call in a process builds all of the ``ast`` node classes, about a
millisecond, which ``python -c`` and ``python script.py`` never pay (they
parse and compile in C). A console script runs from the ``.pyc`` the build
wrote beside it (``bin/__pycache__/``, see ``bootcache.compiled``) while its
source is unchanged; ``-c`` code is given to ``exec`` as text, as CPython
runs it. ``exec`` of a text compiles it with the ``__future__`` features of
the calling code: so this module has no ``from __future__ import
annotations`` (its annotations are strings where they must be).
"""

import os
import sys

from pyrelease.node import appconfig, boot, bootcache, configload, manifest, pyargs, vmargs
from pyrelease.node.entrypoint import NODE_DIR, NODE_MAIN
from pyrelease.node.releaseenv import Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

# releases/VSN/node/pyrelease/node/interp.py → releases/VSN
VSN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(NODE_DIR)))


class InterpError(Exception):
    """Bad input to ``python`` or ``exec``; printed as one line, exit status 1 (2 for usage)."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


def release_environ() -> None:
    """Make ``os.environ`` describe the release this interpreter belongs to.

    Run through ``bin/NAME`` the ``RELEASE_*`` variables are set already; run
    as ``sys.executable`` by a program that cleared or changed the environment,
    they are derived from where this file is.
    """
    root = os.path.dirname(os.path.dirname(VSN_DIR))
    environ = os.environ
    current = environ.get("RELEASE_ROOT")
    if current and (current == root or os.path.realpath(current) == os.path.realpath(root)):
        return  # (the same text, as the node passes it to its children: no lstat per folder)
    for key in [k for k in environ if k.startswith("RELEASE_")]:
        del environ[key]  # they described another release, or a half-set one
    environ["RELEASE_ROOT"] = root
    environ["RELEASE_VSN"] = os.path.basename(VSN_DIR)
    environ["RELEASE_NAME"] = manifest.load(os.path.join(VSN_DIR, "start_clean.json")).name


def load_release(env: Env) -> "dict[str, Any]":
    """Release code on ``sys.path`` and the configuration computed, as for ``eval``."""
    settings = configload.boot_settings(env.vsn_dir)
    m = manifest.load(os.path.join(env.vsn_dir, env.boot_script_clean + ".json"))
    boot.setup_paths(env.root, m)
    config = configload.compute(env.vsn_dir, env.sys_config + ".config", m.env, settings)
    appconfig.set_current(config, env=m.env)
    return config


def script_path(env: Env, name: str) -> str:
    """The console script ``name`` of the release, or an :class:`InterpError` saying what exists."""
    folder = os.path.join(env.vsn_dir, "bin")
    path = os.path.join(folder, name)
    if "/" not in name and name not in ("", ".", "..", "python") and os.path.isfile(path):
        return path
    try:
        known = sorted(n for n in os.listdir(folder) if n not in ("python", "__pycache__"))
    except FileNotFoundError:
        known = []
    import difflib

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    listing = ", ".join(known) if known else "none"
    raise InterpError(
        f"{name!r} is not a console script of this release{hint} "
        f"(console scripts: {listing}; use `exec -m MODULE` for a module)"
    )


def cmd_python(argv: list[str]) -> int:
    """``python ARGS``: CPython's command line, inside the release."""
    try:
        args = pyargs.parse(argv)
    except pyargs.UsageError as exc:
        raise InterpError(f"{exc} (see `python --help`)", status=2) from None
    if args.help or args.version:
        print(f"Python {sys.version.split()[0]}" if args.version else HELP)
        return 0
    release_environ()
    env = Env(os.environ)
    env.export()
    startup_flags(env, args, argv)
    load_release(env)
    return run(args)


def cmd_exec(argv: list[str]) -> int:
    """``exec SCRIPT ARGS`` or ``exec -m MODULE ARGS``."""
    if not argv or argv[0] in ("-h", "--help"):
        raise InterpError(
            "exec expects a console script of the release or -m MODULE, "
            "e.g. `exec django-admin migrate` or `exec -m http.server 8000`",
            status=2,
        )
    release_environ()
    env = Env(os.environ)
    if argv[0] == "-m":
        if len(argv) < 2:
            raise InterpError("exec -m expects a module name", status=2)
        return cmd_python(argv)
    path = argv[0] if "/" in argv[0] else script_path(env, argv[0])
    if not os.path.isfile(path):
        raise InterpError(f"{path} is not a file; give a console script name or -m MODULE")
    return cmd_python([path, *argv[1:]])


def startup_flags(env: Env, args: pyargs.PyArgs, argv: list[str]) -> None:
    """Re-execute the runtime when ``vm.args`` or the command line has start-up flags."""
    vm = vmargs.load(env.vm_args)
    wanted = args.startup and not pyargs.in_effect(args.startup)
    if not wanted and not vm.needs_reexec():
        return
    if not vm.needs_reexec():  # vm.args applied already (a child of the node)
        vm = vmargs.VmArgs()
    vm.interpreter = [*vm.interpreter, *args.startup]
    rest = {
        "c": ["-c", args.target],
        "m": ["-m", args.target],
        "script": ["--", args.target],
        "stdin": ["-"],
    }.get(args.kind, []) + args.args
    flags = ["-u"] if args.unbuffered else []
    flags += ["-i"] if args.inspect else []
    vmargs.reexec(vm, NODE_MAIN, ["python", *flags, *rest])


def run(args: pyargs.PyArgs) -> int:
    """Run what the command line asks for in a fresh ``__main__`` module."""
    if args.unbuffered:
        for stream in (sys.stdout, sys.stderr):
            stream.reconfigure(write_through=True)  # type: ignore[union-attr]
    main = type(sys)("__main__")
    main.__dict__["__builtins__"] = __builtins__
    sys.modules["__main__"] = main
    if args.kind == "m":
        import runpy

        sys.argv = ["-m", *args.args]
        try:
            runpy._run_module_as_main(args.target, alter_argv=True)  # type: ignore[attr-defined]
        except BaseException as exc:
            return _failed(exc)
        return _after(args)
    if args.kind == "repl" or (args.kind == "stdin" and sys.stdin.isatty()):
        sys.argv = [""]
        return _repl(args, main.__dict__)
    main.__annotations__ = {}  # as CPython's __main__ has it (3.11 to 3.13)
    if args.kind == "c":
        sys.argv = ["-c", *args.args]
        if sys.version_info >= (3, 13):
            _show_lines(args.target)
        try:
            exec(args.target, main.__dict__)  # as `python -c`: named "<string>", no compile()
        except BaseException as exc:
            return _failed(exc)
        return _after(args)
    if args.kind == "stdin":
        sys.argv, filename, source = ["-", *args.args], "<stdin>", sys.stdin.buffer.read()
    else:
        filename = args.target
        sys.argv = [filename, *args.args]
        try:
            with open(filename, "rb") as f:
                source = f.read()
        except OSError as exc:
            raise InterpError(f"can't open file {filename!r}: {exc.strerror}", status=2) from None
    main.__file__ = filename  # "<stdin>" too, as CPython names it
    main.__dict__["__cached__"] = None
    code = bootcache.compiled(filename, source) if _console_script(filename) else None
    try:
        if code is None:
            code = compile(source, filename, "exec", dont_inherit=True)
        exec(code, main.__dict__)
    except BaseException as exc:
        return _failed(exc)
    return _after(args)


def _console_script(path: str) -> bool:
    """``path`` is a file of the release's ``bin/``, whose console scripts the build
    compiled (any other script is compiled here, as ``python script.py`` does)."""
    if path == "<stdin>":
        return False
    folder, bin_dir = os.path.dirname(os.path.abspath(path)), os.path.join(VSN_DIR, "bin")
    try:
        return folder == bin_dir or os.path.samefile(folder, bin_dir)
    except OSError:
        return False


def _show_lines(source: str) -> None:
    """As CPython 3.13's ``python -c``: the code's lines for tracebacks of ``<string>``."""
    import linecache

    lines = [line + "\n" for line in source.splitlines()]
    linecache.cache["<string>"] = (len(source), None, lines, "<string>")


def _failed(exc: BaseException) -> int:
    if isinstance(exc, (SystemExit, KeyboardInterrupt)):
        raise exc
    import traceback

    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename in (__file__, RUNPY):
        tb = tb.tb_next  # the user's frames only, as python itself shows
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    return 1


RUNPY = os.path.join(os.path.dirname(os.__file__), "runpy.py")


def _after(args: pyargs.PyArgs) -> int:
    if args.inspect:
        return _repl(args, sys.modules["__main__"].__dict__)
    return 0


def _repl(args: pyargs.PyArgs, namespace: "dict[str, Any]") -> int:
    import code

    try:
        import readline  # noqa: F401 - line editing when the runtime has it
    except ImportError:
        pass
    name, vsn = os.environ.get("RELEASE_NAME", ""), os.environ.get("RELEASE_VSN", "")
    banner = "" if args.quiet else f"Python {sys.version.split()[0]} ({name} {vsn})"
    code.interact(banner=banner, local=namespace, exitmsg="")
    return 0


USER_ERRORS = (EnvError, manifest.ManifestError, configload.BootConfigError, vmargs.VmArgsError)

HELP = """\
usage: python [option] ... [-c cmd | -m mod | file | -] [arg] ...
The release's Python: its code on the path, its configuration loaded, nothing started.
Options as CPython's: -c cmd, -m mod, -i, -q, -u, -B, -O, -OO, -b, -d, -v,
-W arg, -X opt, --check-hash-based-pycs mode. -I, -E, -s, -S, -P and -R are
accepted and always in effect: the environment's PYTHON* variables, the user
site and the current directory never reach the release's path."""


def main(argv: list[str]) -> int:
    """Dispatch ``python`` / ``exec``; user errors become one ``ERROR:`` line."""
    command, rest = (argv[0], argv[1:]) if argv else ("python", [])
    try:
        return cmd_exec(rest) if command == "exec" else cmd_python(rest)
    except InterpError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return exc.status
    except USER_ERRORS as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
