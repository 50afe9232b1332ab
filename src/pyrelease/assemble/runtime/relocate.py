"""Making the copied binaries find their libraries wherever the runtime is moved.

The executable gets a RUNPATH of ``$ORIGIN/../lib``; libraries and extension modules
whose RUNPATH pointed into the installation prefix get the ``$ORIGIN``-relative
equivalent, and the libraries they found there are copied into the runtime's ``lib/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pyrelease.assemble.runtime.elf import ORIGIN, expand_runpath, read_elf
from pyrelease.assemble.runtime.install import Layout, inside
from pyrelease.assemble.runtime.tools import patchelf, run
from pyrelease.errors import BuildError

#: The C library and its loader are never bundled, whatever a RUNPATH says.
LIBC_SONAMES = ("libc.", "libm.", "libdl.", "librt.", "libpthread.", "ld-linux", "ld-musl")

EXE_RUNPATH = "$ORIGIN/../lib"


def bundle_prefix_libs(layout: Layout, elves: list[tuple[Path, Path]], libdir: Path) -> list[Path]:
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
        elf = read_elf(path)
        if elf is None:
            continue
        # Only where the original was told to look inside its prefix: a system Python's
        # prefix is /usr, and its libraries are the system's.
        dirs = [d for d in expand_runpath(elf, original) if inside(d, prefix)]
        for soname in elf.needed:
            if soname in have or soname.startswith(LIBC_SONAMES):
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


def strip_binaries(paths: list[Path]) -> None:
    """``strip --strip-unneeded`` each file, when a ``strip`` tool is installed."""
    strip = shutil.which("strip")
    if not strip:
        return
    for path in paths:
        # A file strip cannot handle stays as it is (the result is the same every time).
        subprocess.run([strip, "--strip-unneeded", str(path)], capture_output=True)


def relocate(layout: Layout, exe: Path, libs: list[Path], modules: list[Path], rt: Path) -> None:
    """Replace RUNPATHs into the prefix by ``$ORIGIN``-relative ones; check the result."""
    tool = str(patchelf())
    prefix = layout.python.prefix
    run([tool, "--set-rpath", EXE_RUNPATH, str(exe)], f"patchelf on {exe.name}")
    for path in [*libs, *modules]:
        elf = read_elf(path)
        if elf is None or not (elf.runpath or elf.rpath):
            continue
        inner = os.path.relpath(rt / "lib", path.parent)
        entries: list[str] = []
        for entry in elf.runpath or elf.rpath:
            new = entry
            if "ORIGIN" not in entry and inside(Path(entry), prefix):
                new = f"{ORIGIN}/{inner}" if inner != "." else ORIGIN
            if new not in entries:
                entries.append(new)
        if entries == list(elf.runpath):
            continue
        run([tool, "--set-rpath", ":".join(entries), str(path)], f"patchelf on {path.name}")
    exe_elf = read_elf(exe)
    if exe_elf is None or exe_elf.runpath != (EXE_RUNPATH,) or exe_elf.rpath:
        raise BuildError(f"patchelf did not set the RUNPATH of {exe.name} to {EXE_RUNPATH}")
    for path in [*libs, *modules]:
        elf = read_elf(path)
        for entry in (elf.runpath + elf.rpath) if elf else ():
            if inside(Path(entry), prefix):
                raise BuildError(f"{path.name} still has a RUNPATH into {prefix}")
