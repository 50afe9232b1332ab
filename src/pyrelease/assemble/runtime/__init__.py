"""Bundle a CPython installation into a release as ``runtime-PYVSN/``.

The bundle is:

* **relocatable** - the executable finds ``lib/libpythonX.Y.so.1.0`` through a RUNPATH of
  ``$ORIGIN/../lib`` (set with ``patchelf``), CPython finds its prefix from the
  executable's location, and the build-time configuration (``_sysconfigdata_*``) reports
  that location: the directory runs wherever it is moved, with the original installation
  gone (:mod:`.relocate`, :mod:`.sysconfigdata`);
* **pruned** - tests, IDLE, tkinter, ensurepip, the static library, ``site-packages`` ...
  are left out (:mod:`.prune`);
* **deterministic and precompiled** - every standard library module gets an
  UNCHECKED_HASH ``.pyc`` compiled by the bundled interpreter itself, recording paths
  relative to the release root, so two bundles of the same installation are
  byte-identical and hold no build path; with ``sources=False`` the ``.py`` files are
  replaced by sourceless ``.pyc`` (:mod:`.bytecode`);
* **cached** - the finished directory is kept under ``~/.cache/pyrelease/runtimes`` and
  copied on later builds (:mod:`.cache`).

It also records what a target must provide: the host triple and the sonames of the system
libraries the interpreter and its extension modules link (:func:`needed_system_libs`,
:mod:`.elf`). :mod:`.install` inspects the installation; :mod:`.bundle` puts it together.

Linux only (ELF); the build side runs on Python 3.11+, the bundled runtime may be any
CPython 3.11+ that runs on the build machine.
"""

from __future__ import annotations

from pyrelease.assemble.runtime.bundle import RuntimeInfo, bundle_runtime
from pyrelease.assemble.runtime.bytecode import WORKER
from pyrelease.assemble.runtime.cache import FORMAT_VERSION, default_cache_dir
from pyrelease.assemble.runtime.elf import host_triple, needed_system_libs, newest_glibc
from pyrelease.assemble.runtime.install import (
    MIN_VERSION,
    PythonInstall,
    current_python,
    inspect_python,
)
from pyrelease.assemble.runtime.prune import (
    PRUNED_DIR_PATTERNS,
    PRUNED_DIRS,
    PRUNED_DYNLOAD,
    PRUNED_FILES,
    PRUNED_SUFFIXES,
)

__all__ = [
    "FORMAT_VERSION",
    "MIN_VERSION",
    "PRUNED_DIRS",
    "PRUNED_DIR_PATTERNS",
    "PRUNED_DYNLOAD",
    "PRUNED_FILES",
    "PRUNED_SUFFIXES",
    "WORKER",
    "PythonInstall",
    "RuntimeInfo",
    "bundle_runtime",
    "current_python",
    "default_cache_dir",
    "host_triple",
    "inspect_python",
    "needed_system_libs",
    "newest_glibc",
]
