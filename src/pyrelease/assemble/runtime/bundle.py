"""``bundle_runtime``: build (or take from the cache) ``runtime-PYVSN/`` and copy it in.

```text
runtime-3.12.1/
  bin/python3.12                 the interpreter, RUNPATH $ORIGIN/../lib
  bin/python3 -> python3.12
  lib/libpython3.12.so.1.0       (shared builds) and libraries found in the prefix
  lib/python3.12/                the pruned standard library, precompiled:
    json/decoder.py              with sources: the source and
    json/__pycache__/decoder.cpython-312.pyc
    json/decoder.pyc             without sources: this alone
    _sysconfigdata_*.py(c)       relocated (see sysconfigdata.py)
    lib-dynload/*.so             extension modules
```
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from pyrelease.assemble.fsutil import source_date_epoch
from pyrelease.assemble.runtime import cache, loader, reuse
from pyrelease.assemble.runtime.bytecode import compile_stdlib
from pyrelease.assemble.runtime.elf import elf_triple, needed_system_libs, read_elf, soname
from pyrelease.assemble.runtime.install import Layout, PythonInstall, find_layout
from pyrelease.assemble.runtime.prune import copy_stdlib
from pyrelease.assemble.runtime.relocate import bundle_prefix_libs, relocate, strip_binaries
from pyrelease.assemble.runtime.sysconfigdata import relocate_sysconfigdata
from pyrelease.errors import BuildError


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
    own_loader: bool = False
    """The runtime runs through its bundled loader (it came from a Nix store)."""
    source: str = field(default="", compare=False)
    """The cached runtime folder this one was copied from (not kept in the cache)."""
    left_out: tuple[str, ...] = field(default=(), compare=False)
    """Files of ``source`` not copied (relative, ``/``-separated): standard-library
    files the replaced release did not have either, left to the pruning to copy
    back if it keeps them (see ``bundle_runtime(leave_out_pruned=True)``)."""


class Prefetch:
    """A copy of a cached runtime made in a thread while the build does other work.

    :func:`bundle_runtime` moves it into the release instead of copying (when it
    is the entry that build needs); :meth:`discard` removes what was not used.
    """

    def __init__(self, python: PythonInstall, scratch: Path, sources: bool) -> None:
        self.entry: Path | None = None
        self.copy: Path | None = None
        self.folder = Path(tempfile.mkdtemp(prefix=".runtime-", dir=scratch))
        self._thread = threading.Thread(target=self._run, args=(python, sources), daemon=True)
        self._thread.start()

    def _run(self, python: PythonInstall, sources: bool) -> None:
        try:
            entry = cache.default_cache_dir() / cache.cache_key(
                find_layout(python), sources=sources
            )
            info = _info(cache.load(entry))
            if info is not None:
                shutil.copytree(entry / info.dir_name, self.folder / info.dir_name, symlinks=True)
                self.entry, self.copy = entry, self.folder / info.dir_name
        except Exception:  # the build copies it itself, and reports what goes wrong
            self.entry = self.copy = None

    def take(self, entry: Path) -> Path | None:
        """The finished copy of ``entry``, or None."""
        self._thread.join()
        return self.copy if self.entry == entry else None

    def discard(self) -> None:
        """Remove whatever was not taken (waits for the copy to end)."""
        self._thread.join()
        shutil.rmtree(self.folder, ignore_errors=True)


def prefetch_runtime(python: PythonInstall, scratch: Path, *, sources: bool = True) -> Prefetch:
    """Start copying ``python``'s cached runtime into a folder below ``scratch``."""
    scratch.mkdir(parents=True, exist_ok=True)
    return Prefetch(python, scratch, sources)


def bundle_runtime(
    python: PythonInstall,
    dest: Path,
    *,
    sources: bool = True,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] | None = None,
    prefetched: Prefetch | None = None,
    previous: Path | None = None,
    leave_out_pruned: bool = False,
) -> RuntimeInfo:
    """Write ``runtime-PYVSN/`` for ``python`` into the release root ``dest``.

    ``dest/runtime-PYVSN`` is replaced if it exists. With ``sources=False`` the standard
    library ships sourceless ``.pyc`` files only (about half the size). The finished
    runtime is cached under ``cache_dir`` (default :func:`cache.default_cache_dir`); a
    cache hit is a plain copy, or the move of a copy made meanwhile (``prefetched``,
    see :func:`prefetch_runtime`). ``previous`` is the release this build replaces: the
    files its runtime already holds as they are are hard-linked, not copied (see
    :mod:`.reuse`). With ``leave_out_pruned`` (the caller prunes the standard library
    afterwards, see ``prune_stdlib(missing=...)``), the standard-library files that
    ``previous`` does not have are not copied but listed in ``RuntimeInfo.left_out``;
    extension modules are always copied.
    """
    say = progress or (lambda _message: None)
    if sys.platform != "linux":
        raise BuildError("bundling a Python runtime is supported on Linux only")
    dest = Path(dest)
    if not dest.is_dir():
        raise BuildError(f"release directory {dest} does not exist")
    layout = find_layout(python)
    cache_dir = Path(cache_dir) if cache_dir is not None else cache.default_cache_dir()
    say(f"copying Python {python.version} runtime")
    entry = cache_dir / cache.cache_key(layout, sources=sources)
    info = _info(cache.load(entry))
    if info is None:
        say("compiling standard library (first build only, cached afterwards)")
        info = _info(cache.fill(entry, lambda root: _as_json(_build(layout, root, sources))))
        assert info is not None
    target = dest / info.dir_name
    try:
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        early = prefetched.take(entry) if prefetched is not None else None
        old = previous / info.dir_name if previous is not None else None
        left_out: list[str] = []
        try:
            if early is None or early.name != info.dir_name:
                raise FileNotFoundError(entry)
            os.rename(early, target)  # the same file system: _build/ENV and the release
        except OSError:
            if old is not None and old.is_dir() and not old.is_symlink():
                leave_out = _pruned_by_previous(layout) if leave_out_pruned else None
                _, left_out = reuse.copy_reusing(
                    entry / info.dir_name, old, target, source_date_epoch(), leave_out
                )
            else:
                shutil.copytree(entry / info.dir_name, target, symlinks=True)
    except OSError as exc:
        raise BuildError(f"cannot copy the Python runtime into {dest}: {exc}") from None
    return replace(info, source=str(entry / info.dir_name), left_out=tuple(left_out))


def _pruned_by_previous(layout: Layout) -> Callable[[str], bool]:
    """Which files of a runtime the pruning may have removed: the standard library's,
    extension modules (read for the release's build information) excepted."""
    stdlib, dynload = layout.stdlib_rel + "/", layout.dynload_rel + "/"
    return lambda rel: rel.startswith(stdlib) and not rel.startswith(dynload) and ".so" not in rel


def _as_json(info: RuntimeInfo) -> dict[str, Any]:
    raw = {**asdict(info), "needed_libs": list(info.needed_libs)}
    del raw["source"], raw["left_out"]  # of one copy, not of the cached runtime
    return raw


def _info(raw: dict[str, Any] | None) -> RuntimeInfo | None:
    try:
        return RuntimeInfo(**{**raw, "needed_libs": tuple(raw["needed_libs"])}) if raw else None
    except (TypeError, KeyError):
        return None


def _build(layout: Layout, root: Path, sources: bool) -> RuntimeInfo:
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
        lib = rt / "lib" / soname(layout.libpython)
        shutil.copyfile(layout.libpython, lib)
        libs.append(lib)

    copy_stdlib(layout, rt)
    relocate_sysconfigdata(rt / layout.stdlib_rel, python.prefix)
    dynload = rt / layout.dynload_rel
    modules = sorted(p for p in dynload.iterdir() if p.name.endswith(".so"))
    originals = [(exe, python.executable), *((m, layout.dynload / m.name) for m in modules)]
    if layout.libpython is not None:
        originals.append((libs[0], layout.libpython))
    original = read_elf(python.executable)
    interp = original.interp if original else None
    own_loader = loader.needs_own_loader(interp)
    if own_loader:  # a Nix store Python: its C library and loader travel along
        assert interp is not None
        libs += loader.bundle_all_libs(originals, rt / "lib", interp)
    else:
        libs += bundle_prefix_libs(layout, originals, rt / "lib")

    strip_binaries([exe, *(lib for lib in libs if not lib.name.startswith("ld-")), *modules])
    relocate(layout, exe, libs, modules, rt)
    real = exe
    if own_loader:
        assert interp is not None
        loader.point_at_bundle([*libs, *modules], rt / "lib")
        real = loader.call_through_loader(exe, interp)
        loader.scrub_store_paths(rt)
    binaries = {exe, real, *libs, *modules}
    _fix_modes(rt, executables=binaries)  # the compile step runs exe
    compile_stdlib(layout, rt, dir_name, sources=sources)
    _fix_modes(rt, executables=binaries)  # and the pycs it wrote

    elf = read_elf(real)
    assert elf is not None
    return RuntimeInfo(
        dir_name=dir_name,
        python_rel=f"{dir_name}/bin/{layout.exe_name}",
        version=python.version,
        triple=elf_triple(elf),
        needed_libs=needed_system_libs([real, *libs, *modules]),
        own_loader=own_loader,
    )


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
