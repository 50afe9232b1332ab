"""What this host provides, and whether a release's build info fits it.

A release records in ``releases/VSN/build_info.json`` the target triple it was
built for, the shared system libraries it links, and the newest glibc symbol
version its binaries need. :func:`check_build_info` compares them with the host
and refuses a mismatch naming both sides.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping

from pyrelease.deploy.errors import HostMismatch

_MACHINES = {"amd64": "x86_64", "arm64": "aarch64", "i386": "i686", "i586": "i686"}
# Where a dynamic loader looks when ldconfig's cache cannot be read (Nix, Alpine).
_LIB_DIRS = (
    "/lib",
    "/lib64",
    "/usr/lib",
    "/usr/lib64",
    "/usr/local/lib",
    "/lib/{m}-linux-gnu",
    "/usr/lib/{m}-linux-gnu",
)


def host_libc() -> str:
    """``gnu`` or ``musl``: which C library this host runs."""
    if platform.libc_ver()[0] == "glibc":
        return "gnu"
    if any(name.startswith("ld-musl-") for name in _listdir("/lib")):
        return "musl"
    return "gnu"


def host_triple() -> str:
    """The target triple of this host, e.g. ``x86_64-unknown-linux-gnu``.

    Spelled the way the assembler records it in ``build_info.json``.
    """
    machine = platform.machine().lower()
    machine = _MACHINES.get(machine, machine)
    if sys.platform == "darwin":
        return f"{machine}-apple-darwin"
    if sys.platform == "win32":
        return f"{machine}-pc-windows-msvc"
    if machine.startswith("armv7") or machine == "armv6l":
        return f"armv7-unknown-linux-{host_libc()}eabihf"
    return f"{machine}-unknown-linux-{host_libc()}"


def host_glibc() -> str | None:
    """This host's glibc version (``"2.36"``), or None without glibc."""
    try:
        value = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (ValueError, OSError, AttributeError):
        value = ""
    name, _, version = value.partition(" ")
    return version if name == "glibc" and version else None


def version_tuple(version: str) -> tuple[int, ...]:
    """``"2.17"`` → ``(2, 17)``; non-numeric parts end the tuple."""
    parts: list[int] = []
    for part in version.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


def _ldconfig_sonames() -> set[str]:
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.path.exists(p)), None
    )
    if ldconfig is None:
        return set()
    try:
        out = subprocess.run(
            [ldconfig, "-p"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return set()
    return {line.split()[0] for line in out.splitlines()[1:] if line.startswith(("\t", " "))}


def missing_libs(sonames: Iterable[str], environ: Mapping[str, str]) -> list[str]:
    """The sonames among ``sonames`` this host's dynamic loader would not find."""
    wanted = sorted(set(sonames))
    if not wanted:
        return []
    known = _ldconfig_sonames()
    machine = _MACHINES.get(platform.machine().lower(), platform.machine().lower())
    dirs = [d.format(m=machine) for d in _LIB_DIRS]
    dirs += [d for d in environ.get("LD_LIBRARY_PATH", "").split(":") if d]
    for d in dirs:
        known.update(_listdir(d))
    return [name for name in wanted if name not in known]


def check_build_info(info: Mapping[str, object], environ: Mapping[str, str]) -> None:
    """Refuse a release this host cannot run: other triple, missing libraries, newer glibc."""
    name = f"{info.get('name')} {info.get('version')}"
    triple, here = info.get("triple"), host_triple()
    if triple != here:
        raise HostMismatch(
            f"{name} was built for {triple} but this host is {here}: build it on (or for) {here}"
        )
    needed_libs = info.get("needed_libs") or []
    missing = missing_libs([str(n) for n in needed_libs], environ)  # type: ignore[union-attr]
    if missing:
        raise HostMismatch(
            f"{name} needs the shared libraries {', '.join(missing)}, which this host lacks: "
            "install them with the system's package manager (or pass --skip-host-check)"
        )
    glibc, have = info.get("glibc"), host_glibc()
    if isinstance(glibc, str) and glibc:
        if have is None:
            raise HostMismatch(
                f"{name} needs glibc {glibc} but this host has no glibc: "
                "build it for this host's C library"
            )
        if version_tuple(have) < version_tuple(glibc):
            raise HostMismatch(
                f"{name} needs glibc {glibc} but this host has glibc {have}: "
                "build it on a machine with an older glibc, or upgrade this host"
            )
