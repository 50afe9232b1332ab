"""Read a ``python`` command line the way CPython does (``-c``, ``-m``, a script, flags).

The release's interpreter (``bin/NAME python``, and ``sys.executable`` inside a
release) accepts CPython's options, so that code which starts ``sys.executable``
with its own flags (``multiprocessing`` passes ``-I -S``, a supervisor may pass
``-X`` or ``-W``) works unchanged. Options that only take effect at interpreter
start-up are collected in :attr:`PyArgs.startup`; the caller re-executes the
runtime with them when they are not already in effect.
"""

from __future__ import annotations

import sys

# Options with no effect here: the release's interpreter is always isolated
# (-I: no PYTHON* variables, no user site, no current directory on the path)
# and runs without `site` (-S); -R is the default since Python 3.3.
ALREADY = set("IESsPR")
STARTUP = set("ObdvB")  # flags kept in sys.flags: must be given to the runtime itself
STARTUP_VALUE = set("XW")
LOCAL = set("uiqh")  # handled by the release's interpreter itself
VALUE_LONG = ("--check-hash-based-pycs",)


class UsageError(Exception):
    """A command line CPython would refuse too."""


class PyArgs:
    """A parsed ``python`` command line."""

    def __init__(self) -> None:
        self.startup: list[str] = []  # ["-O", "-X", "dev", ...]
        self.unbuffered = False
        self.inspect = False
        self.quiet = False
        self.help = False
        self.version = 0
        self.kind = "repl"  # "c", "m", "script", "stdin" or "repl"
        self.target = ""  # the code, module or script path
        self.args: list[str] = []  # what follows the target (sys.argv[1:])


def parse(argv: list[str]) -> PyArgs:
    """Parse ``argv`` (without the program name) as CPython would."""
    out = PyArgs()
    i = 0
    while i < len(argv):
        arg = argv[i]
        i += 1
        if arg == "--":
            break
        if arg == "-" or not arg.startswith("-"):
            out.kind, out.target = ("stdin", "-") if arg == "-" else ("script", arg)
            out.args = argv[i:]
            return out
        if arg.startswith("--"):
            i = _long(out, arg, argv, i)
            continue
        j = 1
        while j < len(arg):
            flag = arg[j]
            j += 1
            if flag in "cm" or flag in STARTUP_VALUE or flag == "X":
                value = arg[j:]
                if not value:
                    if i >= len(argv):
                        raise UsageError(f"Argument expected for the -{flag} option")
                    value = argv[i]
                    i += 1
                if flag in "cm":
                    out.kind, out.target, out.args = flag, value, argv[i:]
                    return out
                out.startup += [f"-{flag}", value]
                break
            if flag in ALREADY:
                continue
            if flag in STARTUP:
                out.startup.append(f"-{flag}")
            elif flag == "u":
                out.unbuffered = True
            elif flag == "i":
                out.inspect = True
            elif flag == "q":
                out.quiet = True
            elif flag == "h" or flag == "?":
                out.help = True
            elif flag == "V":
                out.version += 1
            else:
                raise UsageError(f"Unknown option: -{flag}")
    if i < len(argv):  # after "--"
        out.kind, out.target, out.args = "script", argv[i], argv[i + 1 :]
        if out.target == "-":
            out.kind = "stdin"
    return out


def _long(out: PyArgs, arg: str, argv: list[str], i: int) -> int:
    name, eq, value = arg.partition("=")
    if name in ("--help", "--help-all", "--help-env", "--help-xoptions"):
        out.help = True
    elif name == "--version":
        out.version += 1
    elif name in VALUE_LONG:
        if not eq:
            if i >= len(argv):
                raise UsageError(f"Argument expected for the {name} option")
            value = argv[i]
            i += 1
        out.startup += [name, value]
    else:
        raise UsageError(f"Unknown option: {arg}")
    return i


def in_effect(startup: list[str]) -> bool:
    """Whether every start-up option in ``startup`` already holds in this interpreter.

    A child started with ``sys.executable`` gets the parent's flags back
    (``multiprocessing`` passes them on); when they already hold, no second
    start of the runtime is needed.
    """
    flags = sys.flags
    counts: dict[str, int] = {}
    i = 0
    while i < len(startup):
        opt = startup[i]
        i += 1
        if opt in ("-X", "-W", "--check-hash-based-pycs"):
            value = startup[i]
            i += 1
            if opt == "-W" and value not in sys.warnoptions:
                return False
            if opt == "-X":
                key, eq, val = value.partition("=")
                if key not in sys._xoptions or sys._xoptions[key] != (val if eq else True):
                    return False
            if opt == "--check-hash-based-pycs":
                import _imp

                if _imp.check_hash_based_pycs != value:
                    return False
            continue
        counts[opt] = counts.get(opt, 0) + 1
    wanted = {
        "-O": flags.optimize,
        "-b": flags.bytes_warning,
        "-d": flags.debug,
        "-v": flags.verbose,
        "-B": flags.dont_write_bytecode,
    }
    return all(wanted[opt] >= count for opt, count in counts.items())
