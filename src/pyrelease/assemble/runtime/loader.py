"""Runtimes built against their own C library (Nix): bundle the loader, call it.

A Python built by Nix has its ELF interpreter (``ld-linux``) and RUNPATH in
``/nix/store``: it runs only where that store path exists. Its C library is the
store's too, newer than many systems' and tied to its loader. So the bundle takes
everything along and runs the interpreter through the bundled loader:

```text
runtime-3.12.8/
  bin/python3.12            sh: exec ../lib/ld-linux-x86-64.so.2 --argv0 "$0" .python3.12-elf
  bin/.python3.12-elf       the interpreter, RUNPATH $ORIGIN/../lib
  lib/ld-linux-x86-64.so.2  the loader it was built with
  lib/libc.so.6, libm.so.6, libssl.so.3, libffi.so.8, ...   every library it and its modules load
```

``--argv0`` keeps ``sys.executable`` on the wrapper, so the interpreter finds its
prefix from ``bin/`` and a process it starts with ``sys.executable`` goes through the
loader again. Finally every ``/nix/store/`` in the runtime (compiled-in prefixes,
``_sysconfigdata``, the C library's own paths) is overwritten with ``/relocated/``
(same length, so binaries keep their layout): the release names no store path.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from pyrelease.assemble.runtime.elf import ORIGIN, expand_runpath, read_elf
from pyrelease.assemble.runtime.tools import patchelf, run

#: Loaders at the paths every system of their kind has: a runtime using one is left alone.
SYSTEM_LOADERS = {
    "/lib64/ld-linux-x86-64.so.2": "/lib64/ld-linux-x86-64.so.2",
    "/lib/ld-linux-aarch64.so.1": "/lib/ld-linux-aarch64.so.1",
    "/lib/ld-linux-armhf.so.3": "/lib/ld-linux-armhf.so.3",
    "/lib/ld-musl-x86_64.so.1": "/lib/ld-musl-x86_64.so.1",
    "/lib/ld-musl-aarch64.so.1": "/lib/ld-musl-aarch64.so.1",
    "/lib/ld-linux.so.2": "/lib/ld-linux.so.2",
}
#: Store paths are overwritten with this: the same length, naming nothing.
STORE, SCRUBBED = b"/nix/store/", b"/relocated/"
assert len(STORE) == len(SCRUBBED)


def needs_own_loader(interp: str | None) -> bool:
    """True when an interpreter's ELF loader is not at a system path (a Nix store one)."""
    return interp is not None and interp not in SYSTEM_LOADERS


def bundle_all_libs(elves: list[tuple[Path, Path]], libdir: Path, interp: str) -> list[Path]:
    """Copy the loader and every shared library ``elves`` load into ``libdir``.

    ``elves`` are (copy, original) pairs; each NEEDED soname is looked up along the
    original's RUNPATH (and the loader's own directory, where the C library lives),
    recursively. A soname found nowhere stays a system library. Returns the copies.
    """
    have = {p.name for p in libdir.iterdir()}
    loader = libdir / Path(interp).name
    shutil.copyfile(interp, loader)
    copied = [loader]
    have.add(loader.name)
    queue = list(elves)
    while queue:
        path, original = queue.pop(0)
        elf = read_elf(path)
        if elf is None:
            continue
        dirs = [*expand_runpath(elf, original), Path(interp).parent]
        for soname in elf.needed:
            if soname in have:
                continue
            found = next((d / soname for d in dirs if (d / soname).is_file()), None)
            if found is None:
                continue
            copy = libdir / soname
            shutil.copyfile(found.resolve(), copy)
            have.add(soname)
            copied.append(copy)
            queue.append((copy, found))
    return copied


def point_at_bundle(elves: list[Path], libdir: Path) -> None:
    """Give every ELF file that has a RUNPATH one relative to ``libdir`` instead."""
    tool = str(patchelf())
    for path in elves:
        elf = read_elf(path)
        if elf is None or not (elf.runpath or elf.rpath):
            continue
        inner = os.path.relpath(libdir, path.parent)
        new = ORIGIN if inner == "." else f"{ORIGIN}/{inner}"
        run([tool, "--set-rpath", new, str(path)], f"patchelf on {path.name}")


def call_through_loader(exe: Path, interp: str) -> Path:
    """Move the interpreter aside and put a wrapper that runs it with the bundled loader.

    Its ELF interpreter is set to the system path of the same kind, so the binary no
    longer names the store. Returns the moved interpreter.
    """
    name = Path(interp).name
    system = next((p for p in SYSTEM_LOADERS if Path(p).name == name), f"/lib/{name}")
    real = exe.with_name(f".{exe.name}-elf")
    os.replace(exe, real)
    run([str(patchelf()), "--set-interpreter", system, str(real)], f"patchelf on {real.name}")
    exe.write_text(
        "#!/bin/sh\n"
        "# The interpreter was built against its own C library: run it with the loader\n"
        "# bundled beside it (see pyrelease.assemble.runtime.loader).\n"
        "case $0 in */*) d=${0%/*} ;; *) d=. ;; esac\n"
        f'exec "$d/../lib/{name}" --argv0 "$0" "$d/{real.name}" "$@"\n',
        encoding="utf-8",
    )
    os.chmod(exe, 0o755)
    return real


def scrub_store_paths(root: Path) -> list[Path]:
    """Overwrite ``/nix/store/`` with ``/relocated/`` in every file below ``root``."""
    changed = []
    for dirpath, _dirnames, filenames in os.walk(root):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink() or not path.is_file():
                continue
            data = path.read_bytes()
            if STORE in data:
                # A new file renamed over the old one: the old one may be a hard link
                # into the release this build replaces (see reuse.py).
                mode = path.stat().st_mode
                fresh = path.with_name(f".{name}.scrubbed")
                fresh.write_bytes(data.replace(STORE, SCRUBBED))
                os.chmod(fresh, mode)
                os.replace(fresh, path)
                changed.append(path)
    return changed
