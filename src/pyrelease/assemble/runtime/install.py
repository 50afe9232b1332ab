"""Inspecting a CPython installation: what it is, and where its parts are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyrelease.assemble.runtime.elf import expand_runpath, read_elf
from pyrelease.assemble.runtime.tools import clean_env
from pyrelease.errors import BuildError

#: Oldest CPython a release can ship.
MIN_VERSION = (3, 11)


@dataclass(frozen=True)
class PythonInstall:
    """A CPython installation that can be bundled (see :func:`inspect_python`)."""

    prefix: Path
    """Installation prefix (``sys.base_prefix``), e.g. ``/root/.pyenv/versions/3.12.1``."""
    executable: Path
    """The real interpreter binary, e.g. ``PREFIX/bin/python3.12``."""
    version: str
    """Full version, e.g. ``"3.12.1"`` (``"3.13.0rc2"`` for pre-releases)."""
    version_short: str
    """``"3.12"``."""
    soabi_tag: str
    """Wheel interpreter/ABI tag, e.g. ``"cp312"`` (``"cp313t"`` for free-threaded builds)."""
    libpython: Path | None = None
    """The shared ``libpythonX.Y.so.1.0`` the executable links, None for a static build."""
    stdlib: Path | None = None
    """The standard library directory (default ``PREFIX/lib/pythonX.Y``)."""
    dynload: Path | None = None
    """The extension modules directory (default ``STDLIB/lib-dynload``)."""


@dataclass(frozen=True)
class Layout:
    """Where the parts of an installation are (the defaults of :class:`PythonInstall` filled)."""

    python: PythonInstall
    libpython: Path | None
    stdlib: Path
    dynload: Path
    stdlib_rel: str
    """e.g. ``"lib/python3.12"``, relative to the prefix and to ``runtime-PYVSN/``."""
    dynload_rel: str
    exe_name: str


_INSPECT = r"""
import json, sys, sysconfig
v = sys.version_info
cfg = sysconfig.get_config_var
print(json.dumps({
    "implementation": sys.implementation.name,
    "version_info": [v.major, v.minor, v.micro, v.releaselevel, v.serial],
    "abiflags": getattr(sys, "abiflags", ""),
    "prefix": sys.prefix,
    "base_prefix": sys.base_prefix,
    "executable": sys.executable,
    "platform": sys.platform,
    "platlibdir": getattr(sys, "platlibdir", "lib"),
    "stdlib": sysconfig.get_path("stdlib"),
    "dynload": cfg("DESTSHARED"),
    "libdir": cfg("LIBDIR"),
    "gil_disabled": bool(cfg("Py_GIL_DISABLED")),
}))
"""


def _version_string(info: list[object]) -> str:
    major, minor, micro, level, serial = info
    suffix = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(str(level))
    return f"{major}.{minor}.{micro}" + (f"{suffix}{serial}" if suffix else "")


def _find_interpreter(prefix: Path) -> Path:
    bindir = prefix / "bin"
    candidates = [bindir / "python3"]
    versioned = []
    for path in bindir.glob("python3.*"):
        minor = path.name[len("python3.") :].rstrip("t")
        if minor.isdigit():
            versioned.append((int(minor), path))
    candidates += [p for _, p in sorted(versioned, reverse=True)]
    candidates.append(bindir / "python")
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise BuildError(
        f"no Python interpreter found in {prefix}",
        tip="include_runtime takes the prefix of a CPython installation (the directory "
        "holding bin/python3) or the path of its interpreter",
    )


def _query(interpreter: Path) -> dict[str, Any]:
    """What :data:`_INSPECT` prints about ``interpreter`` (remembered per interpreter)."""
    from pyrelease.cachedirs import interpreter_key, remembered

    try:
        key = interpreter_key(interpreter, str(interpreter), _INSPECT)
    except OSError as exc:
        raise BuildError(f"cannot run {interpreter}: {exc}") from None
    return remembered("interpreters", key, lambda: _run_query(interpreter))


def _run_query(interpreter: Path) -> dict[str, Any]:
    try:
        proc = subprocess.run(
            [str(interpreter), "-I", "-S", "-c", _INSPECT],
            capture_output=True,
            text=True,
            timeout=120,
            env=clean_env(bundled=False),
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BuildError(f"cannot run {interpreter}: {exc}") from None
    try:
        info = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None
    except (json.JSONDecodeError, IndexError):
        info = None
    if not isinstance(info, dict):
        detail = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise BuildError(f"{interpreter} is not a usable CPython 3.11+ interpreter ({detail})")
    return info


def inspect_python(prefix_or_executable: Path | str) -> PythonInstall:
    """Describe the CPython installation at a prefix (or of an interpreter path).

    Runs the interpreter once (``-I -S``). A virtual environment's interpreter stands for
    the installation it was made from. Raises :class:`BuildError` unless it is a CPython
    3.11+ on Linux whose executable links a shared ``libpython`` present in the
    installation, or a static one.
    """
    given = Path(prefix_or_executable).expanduser()
    if not given.exists():
        raise BuildError(f"Python installation {given} does not exist")
    interpreter = _find_interpreter(given) if given.is_dir() else given
    info = _query(interpreter)
    if info["implementation"] != "cpython":
        raise BuildError(f"{interpreter} is {info['implementation']}, only CPython can be bundled")
    version = _version_string(info["version_info"])
    major, minor = info["version_info"][:2]
    if (major, minor) < MIN_VERSION:
        raise BuildError(
            f"{interpreter} is Python {version}, releases need CPython "
            f"{MIN_VERSION[0]}.{MIN_VERSION[1]} or newer"
        )
    if info["platform"] != "linux":
        raise BuildError(
            f"bundling a Python runtime is supported on Linux only, not {info['platform']}"
        )
    prefix = Path(info["base_prefix"])
    executable = Path(info["executable"]).resolve()
    threaded = "t" if info["gil_disabled"] or "t" in info["abiflags"] else ""
    libpython = _find_libpython(executable, prefix, info["libdir"])
    stdlib = Path(info["stdlib"])
    dynload = Path(info["dynload"]) if info["dynload"] else stdlib / "lib-dynload"
    for path, what in ((stdlib / "os.py", "standard library"), (dynload, "lib-dynload")):
        if not path.exists():
            raise BuildError(f"the {what} of {executable} is missing ({path} not found)")
    return PythonInstall(
        prefix=prefix,
        executable=executable,
        version=version,
        version_short=f"{major}.{minor}",
        soabi_tag=f"cp{major}{minor}{threaded}",
        libpython=libpython.resolve() if libpython else None,
        stdlib=stdlib,
        dynload=dynload,
    )


def _find_libpython(executable: Path, prefix: Path, libdir: str | None) -> Path | None:
    """The shared libpython ``executable`` links, None when it links none."""
    elf = read_elf(executable)
    if elf is None:
        raise BuildError(f"{executable} is not an ELF executable")
    shared = [n for n in elf.needed if n.startswith("libpython")]
    if not shared:
        return None
    dirs = [*expand_runpath(elf, executable), Path(libdir or prefix / "lib")]
    dirs += [prefix / "lib", prefix / "lib64"]
    libpython = next((d / shared[0] for d in dirs if (d / shared[0]).is_file()), None)
    if libpython is None:
        raise BuildError(
            f"{executable} links {shared[0]}, which is not in its installation "
            f"({prefix}): not a complete CPython installation"
        )
    return libpython


def current_python() -> PythonInstall:
    """The installation behind the interpreter running pyrelease (a venv's base)."""
    return inspect_python(Path(sys.executable))


def inside(path: Path, root: Path) -> bool:
    """True when ``path`` is ``root`` or below it (lexically, symlinks not followed)."""
    path, root = Path(os.path.normpath(path)), Path(os.path.normpath(root))
    return path == root or root in path.parents


def find_layout(python: PythonInstall) -> Layout:
    """Where the parts of ``python`` are; :class:`BuildError` if not inside its prefix."""
    prefix = python.prefix
    stdlib = python.stdlib or prefix / "lib" / f"python{python.version_short}"
    dynload = python.dynload or stdlib / "lib-dynload"
    libpython = python.libpython
    if libpython is None:
        elf = read_elf(python.executable)
        shared = [n for n in (elf.needed if elf else ()) if n.startswith("libpython")]
        if shared:
            libpython = next(
                (
                    d / shared[0]
                    for d in (prefix / "lib", prefix / "lib64")
                    if (d / shared[0]).exists()
                ),
                None,
            )
            if libpython is None:
                raise BuildError(f"{python.executable} links {shared[0]}, not found in {prefix}")
    for path in (stdlib, dynload):
        if not inside(path, prefix):
            raise BuildError(
                f"unsupported Python installation: {path} is outside its prefix {prefix}"
            )
    return Layout(
        python=python,
        libpython=libpython,
        stdlib=stdlib,
        dynload=dynload,
        stdlib_rel=stdlib.relative_to(prefix).as_posix(),
        dynload_rel=dynload.relative_to(prefix).as_posix(),
        exe_name=python.executable.name,
    )
