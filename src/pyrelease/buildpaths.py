"""Builds of local packages that leave no trace of where their sources are.

A C or C++ extension compiled from ``/home/me/api/packages/speedups`` records that
directory in its debug information (and in ``__FILE__``): the same sources built
in another checkout, or inside a Nix build, give other bytes. The build
environment maps every local source directory to ``.`` with the compilers'
``-ffile-prefix-map`` (GCC 8+, Clang 10+), added to ``CFLAGS`` and ``CXXFLAGS``
after whatever the user set there, so the extension's bytes depend on the
sources, the compiler and the Python, not on the checkout's path.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping


def prefix_maps(sources: Iterable[str | os.PathLike[str]]) -> list[str]:
    """``-ffile-prefix-map=DIR=.`` for each source directory, as given and resolved.

    The longest directory comes last: compilers try the last option first, so a
    package inside the project maps to ``.`` too, not to ``./packages/NAME``.
    """
    dirs: set[str] = set()
    for src in sources:
        dirs.add(os.path.abspath(src))
        dirs.add(os.path.realpath(src))
    ordered = sorted(dirs, key=lambda d: (len(d), d))
    return [shlex.quote(f"-ffile-prefix-map={d}=.") for d in ordered]


def path_independent_env(
    sources: Iterable[str | os.PathLike[str]], base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """``base`` (default: this process's environment) with ``CFLAGS`` and ``CXXFLAGS``
    mapping every directory of ``sources`` to ``.`` (see the module's docstring)."""
    env = dict(os.environ if base is None else base)
    maps = prefix_maps(sources)
    for var in ("CFLAGS", "CXXFLAGS"):
        env[var] = " ".join(filter(None, [env.get(var, "").strip(), *maps]))
    return env
