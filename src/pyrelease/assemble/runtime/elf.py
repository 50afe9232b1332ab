"""Reading ELF files: what a binary links, where it looks, which triple it is built for.

A small parser of the dynamic section (no ``readelf``/``ldd``), enough to relocate a
runtime and to tell a target what it must provide: :func:`needed_system_libs` and
:func:`host_triple`.
"""

from __future__ import annotations

import contextlib
import platform
import struct
import sys
from collections.abc import Callable, Iterable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from pathlib import Path

from pyrelease.errors import BuildError

ORIGIN = "$ORIGIN"


@dataclass(frozen=True)
class Elf:
    """The parts of an ELF file the bundler reads."""

    machine: int
    is_64: bool
    little_endian: bool
    interp: str | None
    needed: tuple[str, ...]
    soname: str | None
    runpath: tuple[str, ...]
    rpath: tuple[str, ...]
    version_needs: tuple[str, ...] = ()  # symbol versions it needs, e.g. "GLIBC_2.34"


_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_SONAME, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 14, 15, 29
_DT_VERNEED, _DT_VERNEEDNUM = 0x6FFFFFFE, 0x6FFFFFFF
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


def read_elf(path: Path) -> Elf | None:
    """Parse the dynamic section of an ELF file; None when ``path`` is not ELF."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise BuildError(f"cannot read {path}: {exc.strerror}") from None
    if len(data) < 52 or data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        return None
    try:
        return _parse(data)
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise BuildError(f"{path} is not a valid ELF file ({exc})") from None


def _parse(data: bytes) -> Elf:
    is_64, little = data[4] == 2, data[5] == 1
    e = "<" if little else ">"
    machine = struct.unpack_from(e + "H", data, 18)[0]
    if is_64:
        phoff = struct.unpack_from(e + "Q", data, 32)[0]
        phentsize, phnum = struct.unpack_from(e + "HH", data, 54)
        ph_fmt, dyn_fmt = e + "IIQQQQQQ", e + "qQ"
    else:
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
    entries = _dynamic_entries(data, dynamic, dyn_fmt)
    strtab = next((v for t, v in entries if t == _DT_STRTAB), None)
    strtab_off = _file_offset(loads, strtab)

    def string(value: int) -> str:
        if strtab_off is None:
            raise ValueError("no string table")
        start = strtab_off + value
        return data[start : data.index(b"\0", start)].decode("utf-8", "surrogateescape")

    def paths(tag: int) -> tuple[str, ...]:
        return tuple(p for t, v in entries if t == tag for p in string(v).split(":") if p)

    sonames = [string(v) for t, v in entries if t == _DT_SONAME]
    return Elf(
        machine=machine,
        is_64=is_64,
        little_endian=little,
        interp=interp,
        needed=tuple(string(v) for t, v in entries if t == _DT_NEEDED),
        soname=sonames[0] if sonames else None,
        runpath=paths(_DT_RUNPATH),
        rpath=paths(_DT_RPATH),
        version_needs=_version_needs(data, e, entries, loads, string),
    )


def _file_offset(loads: list[tuple[int, int, int]], vaddr: int | None) -> int | None:
    """Where the loaded address ``vaddr`` sits in the file."""
    if vaddr is not None:
        for start, offset, filesz in loads:
            if start <= vaddr < start + filesz:
                return offset + vaddr - start
    return None


def _version_needs(
    data: bytes,
    e: str,
    entries: list[tuple[int, int]],
    loads: list[tuple[int, int, int]],
    string: Callable[[int], str],
) -> tuple[str, ...]:
    # Elf{32,64}_Verneed and _Vernaux have the same 16-byte layout in both classes.
    offset = _file_offset(loads, next((v for t, v in entries if t == _DT_VERNEED), None))
    count = next((v for t, v in entries if t == _DT_VERNEEDNUM), 0)
    names: list[str] = []
    for _ in range(count if offset is not None else 0):
        assert offset is not None
        _version, aux_count, _file, aux, next_need = struct.unpack_from(e + "HHIII", data, offset)
        aux_offset = offset + aux
        for _ in range(aux_count):
            _hash, _flags, _other, name, next_aux = struct.unpack_from(
                e + "IHHII", data, aux_offset
            )
            names.append(string(name))
            aux_offset += next_aux
        if not next_need:
            break
        offset += next_need
    return tuple(sorted(set(names)))


def _dynamic_entries(
    data: bytes, dynamic: tuple[int, int] | None, dyn_fmt: str
) -> list[tuple[int, int]]:
    entries: list[tuple[int, int]] = []
    if dynamic is None:
        return entries
    size = struct.calcsize(dyn_fmt)
    offset, filesz = dynamic
    for pos in range(offset, offset + filesz - size + 1, size):
        tag, value = struct.unpack_from(dyn_fmt, data, pos)
        if tag == _DT_NULL:
            break
        entries.append((tag, value))
    return entries


def soname(path: Path) -> str:
    """The ``DT_SONAME`` of a shared library, or its file name when it has none."""
    elf = read_elf(path)
    return elf.soname if elf is not None and elf.soname else path.name


def expand_runpath(elf: Elf, path: Path) -> list[Path]:
    """The directories ``path`` (parsed as ``elf``) searches, ``$ORIGIN`` expanded."""
    origin = str(path.parent)
    return [
        Path(p.replace("${ORIGIN}", origin).replace(ORIGIN, origin))
        for p in (elf.runpath or elf.rpath)
    ]


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
        elf = read_elf(path)
        if elf is None:
            continue
        own.add(path.name)
        if elf.soname:
            own.add(elf.soname)
        needed.update(elf.needed)
    return tuple(sorted(needed - own))


def newest_glibc(paths: Iterable[Path]) -> str | None:
    """The newest ``GLIBC_x.y`` symbol version any ELF file among ``paths`` needs.

    A target whose glibc is older cannot load the file; None when no file needs glibc.
    """
    newest: tuple[int, ...] | None = None
    for path in paths:
        if not Path(path).is_file():
            continue
        elf = read_elf(Path(path))
        for need in elf.version_needs if elf is not None else ():
            number = need.removeprefix("GLIBC_")
            if need.startswith("GLIBC_") and number.replace(".", "").isdigit():
                version = tuple(int(p) for p in number.split("."))
                newest = version if newest is None else max(newest, version)
    return ".".join(map(str, newest)) if newest is not None else None


# --------------------------------------------------------------------------- triples


def _triple(machine: str, libc: str) -> str:
    if machine == "arm":
        return f"armv7-unknown-linux-{libc}eabihf"
    return f"{machine}-unknown-linux-{libc}"


def elf_triple(elf: Elf) -> str:
    """The target triple an ELF executable is built for."""
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
        elf = read_elf(Path(sys.executable).resolve())
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
