"""The target triples the flake builds for, and what each one accepts from a lock.

A target is a triple (``x86_64-unknown-linux-gnu``), the Nix system that builds it
(``x86_64-linux``) and the platform rules of its wheels: ``manylinux`` up to the glibc
of the pinned nixpkgs, ``musllinux`` up to its musl, ``macosx`` down from the oldest
macOS its SDK targets. :func:`tags` gives the wheel tags a CPython of a given version
accepts on that target, best first (``packaging.tags``), and :func:`marker_environment`
the PEP 508 values its markers are evaluated with.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms

from pyrelease.errors import ConfigError

#: glibc of the pinned nixpkgs (2.40 in nixos-25.05; newer pins only raise it, and a
#: manylinux wheel for an older glibc runs on a newer one).
GLIBC = (2, 40)
#: musl of the pinned nixpkgs (1.2.x).
MUSL = (1, 2)
#: The oldest macOS the pinned nixpkgs' SDK builds for (its default deployment target).
MACOS = (11, 0)


@dataclass(frozen=True)
class Target:
    """One target triple the flake offers."""

    triple: str
    system: str
    """The Nix system that builds this target natively (musl through ``pkgsMusl``)."""
    arch: str
    """The wheel platform's architecture: ``x86_64``, ``aarch64`` (``arm64`` on macOS)."""
    os: str
    """``linux-gnu``, ``linux-musl`` or ``darwin``."""

    def platforms(self) -> list[str]:
        """Wheel platform tags of this target, most specific first."""
        if self.os == "darwin":
            return list(mac_platforms(MACOS, self.arch))
        if self.os == "linux-musl":
            return [f"musllinux_{MUSL[0]}_{m}_{self.arch}" for m in range(MUSL[1], -1, -1)]
        legacy = {17: "manylinux2014", 12: "manylinux2010", 5: "manylinux1"}
        out = []
        for minor in range(GLIBC[1], 4, -1):
            out.append(f"manylinux_{GLIBC[0]}_{minor}_{self.arch}")
            # manylinux2010 and manylinux1 were only ever defined for x86 machines.
            if minor in legacy and (minor == 17 or self.arch == "x86_64"):
                out.append(f"{legacy[minor]}_{self.arch}")
        return out


TARGETS: dict[str, Target] = {
    t.triple: t
    for t in (
        Target("x86_64-unknown-linux-gnu", "x86_64-linux", "x86_64", "linux-gnu"),
        Target("aarch64-unknown-linux-gnu", "aarch64-linux", "aarch64", "linux-gnu"),
        Target("x86_64-unknown-linux-musl", "x86_64-linux", "x86_64", "linux-musl"),
        Target("aarch64-unknown-linux-musl", "aarch64-linux", "aarch64", "linux-musl"),
        Target("x86_64-apple-darwin", "x86_64-darwin", "x86_64", "darwin"),
        Target("aarch64-apple-darwin", "aarch64-darwin", "arm64", "darwin"),
    )
}


def get(triple: str) -> Target:
    """The target named ``triple``; :class:`ConfigError` listing the known ones otherwise."""
    try:
        return TARGETS[triple]
    except KeyError:
        known = ", ".join(TARGETS)
        problem = f"unknown target triple {triple!r}; the flake builds: {known}"
        raise ConfigError([problem]) from None


def _version(python_version: str) -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in python_version.split(".")[:2])
    except ValueError:
        raise ConfigError([f"{python_version!r} is not a Python version like 3.12"]) from None
    return major, minor


def tags(target: Target, python_version: str) -> list[Tag]:
    """Wheel tags a CPython ``python_version`` accepts on ``target``, best first."""
    major, minor = _version(python_version)
    interp = f"cp{major}{minor}"
    platforms = target.platforms()
    return [
        *cpython_tags((major, minor), [interp, "abi3", "none"], platforms),
        *compatible_tags((major, minor), interp, platforms),
    ]


def marker_environment(target: Target, python_full_version: str) -> dict[str, str]:
    """PEP 508 marker values of CPython ``python_full_version`` on ``target``."""
    major, minor = _version(python_full_version)
    darwin = target.os == "darwin"
    return {
        "implementation_name": "cpython",
        "implementation_version": python_full_version,
        "os_name": "posix",
        "platform_machine": target.arch,
        "platform_release": "",
        "platform_system": "Darwin" if darwin else "Linux",
        "platform_version": "",
        "python_full_version": python_full_version,
        "platform_python_implementation": "CPython",
        "python_version": f"{major}.{minor}",
        "sys_platform": "darwin" if darwin else "linux",
    }
