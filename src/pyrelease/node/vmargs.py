"""``vm.args``: interpreter flags and node settings, one per line.

Interpreter flags (``-X opt``, ``-W spec``, ``-O``, ``-OO``, ``-u``, ``-B``,
``-b``) and ``--hash-seed N`` only take effect at interpreter start-up, so when
any is present the node re-executes itself once with them. The other settings
are applied in-process: ``--recursion-limit N``, ``--gc-threshold A[,B[,C]]``
(from readiness on, see ``bootgc``), ``--boot-gc defer|normal``,
``--switch-interval SECONDS``, ``--shutdown-timeout SECONDS``, and the control
channel's TLS files ``--tls-cert PATH``, ``--tls-key PATH``, ``--tls-ca PATH``
(see ``tlsconfig``).
"""

import sys

from pyrelease.node.liteos import os

STARTUP_FLAGS_WITH_VALUE = ("-X", "-W")
STARTUP_FLAGS = ("-O", "-OO", "-u", "-B", "-b")
REEXEC_MARK = "PYRELEASE_VMARGS_APPLIED"


class VmArgsError(Exception):
    """``vm.args`` holds a line the node does not understand."""


class VmArgs:
    """Parsed ``vm.args``."""

    def __init__(self) -> None:
        self.interpreter: list[str] = []
        self.hash_seed: str | None = None
        self.recursion_limit: int | None = None
        self.gc_threshold: tuple[int, ...] | None = None
        self.boot_gc = "defer"
        self.switch_interval: float | None = None
        self.shutdown_timeout = 15.0
        self.tls: dict[str, str] = {}  # "cert", "key", "ca" -> path

    def needs_reexec(self) -> bool:
        """True when start-up-only flags are set and not yet applied."""
        wanted = bool(self.interpreter) or self.hash_seed is not None
        return wanted and os.environ.get(REEXEC_MARK) != "1"

    def apply(self) -> None:
        """Apply the in-process settings (the collector's once the node is ready)."""
        if self.recursion_limit is not None:
            sys.setrecursionlimit(self.recursion_limit)
        if self.boot_gc == "normal":
            from pyrelease.node import bootgc  # not for management commands: boot time

            bootgc.settle(self.gc_threshold, freeze=False)
        if self.switch_interval is not None:
            sys.setswitchinterval(self.switch_interval)


def _number(path: str, lineno: int, text: str, kind: type) -> int | float:
    try:
        value = kind(text)
    except ValueError:
        raise VmArgsError(f"{path} line {lineno}: {text!r} is not a number") from None
    if value < 0:
        raise VmArgsError(f"{path} line {lineno}: {text!r} must not be negative")
    return value


def parse(text: str, path: str = "vm.args") -> "VmArgs":
    """Parse the content of a ``vm.args`` file; raise :class:`VmArgsError` on bad lines."""
    args = VmArgs()
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        flag, _, value = line.partition(" ")
        value = value.strip()
        if flag in STARTUP_FLAGS_WITH_VALUE and value:
            args.interpreter += [flag, value]
        elif flag in STARTUP_FLAGS and not value:
            args.interpreter.append(flag)
        elif flag == "--hash-seed" and (value == "random" or value.isdigit()):
            args.hash_seed = value
        elif flag == "--recursion-limit":
            args.recursion_limit = int(_number(path, lineno, value, int))
        elif flag == "--gc-threshold":
            parts = value.split(",")
            args.gc_threshold = tuple(int(_number(path, lineno, p, int)) for p in parts[:3])
        elif flag == "--boot-gc" and value in ("defer", "normal"):
            args.boot_gc = value
        elif flag == "--switch-interval":
            args.switch_interval = float(_number(path, lineno, value, float))
        elif flag in ("--tls-cert", "--tls-key", "--tls-ca") and value:
            args.tls[flag[6:]] = value
        elif flag == "--shutdown-timeout":
            args.shutdown_timeout = float(_number(path, lineno, value, float))
        else:
            raise VmArgsError(
                f"{path} line {lineno}: unknown or incomplete setting {line!r} "
                "(see the comments in the generated vm.args for what is accepted)"
            )
    return args


_loaded: "dict[str, VmArgs]" = {}


def load(path: str) -> "VmArgs":
    """Read and parse ``vm.args`` (once per process); a missing file means no settings."""
    if path not in _loaded:
        try:
            with open(path, encoding="utf-8") as f:
                _loaded[path] = parse(f.read(), path)
        except FileNotFoundError:
            _loaded[path] = VmArgs()
    return _loaded[path]


def reexec(args: "VmArgs", script: str, argv: list[str]) -> None:
    """Replace this process with one that has the start-up flags applied."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env[REEXEC_MARK] = "1"
    if args.hash_seed is not None:
        # -I would ignore PYTHONHASHSEED; -s -S -P give the same isolation otherwise,
        # and every other PYTHON* variable was removed above.
        env["PYTHONHASHSEED"] = args.hash_seed
        isolation = ["-s", "-S", "-P"]
    else:
        isolation = ["-I", "-S"]
    os.execve(sys.executable, [sys.executable, *args.interpreter, *isolation, script, *argv], env)
