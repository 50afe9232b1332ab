"""Byte-compiling the bundled standard library with the bundled interpreter.

Every module gets an UNCHECKED_HASH ``.pyc`` compiled by the runtime's own interpreter
(its magic number) through ``_compile_worker.py`` (canonical marshal output), recording
the path relative to the release root (``runtime-3.12.1/lib/python3.12/json/decoder.py``),
so two bundles of the same installation are byte-identical and hold no build path:

* with sources, ``NAME.py`` stays and its pyc is ``__pycache__/NAME.cpython-312.pyc``;
* without, ``NAME.py`` is replaced by ``NAME.pyc`` in the same directory, which importlib
  loads with its ``SourcelessFileLoader``; tracebacks name the file and line, without the
  source line. A file that does not compile (data that happens to end in ``.py``) stays.

``getpath`` finds the standard library by a landmark, ``os.py`` or ``os.pyc`` on every
CPython a release can ship (3.11 to 3.13, ``STDLIB_LANDMARKS`` in ``Modules/getpath.py``),
so a sourceless runtime still finds itself; :func:`check_finds_itself` makes sure of it.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from pyrelease.assemble.runtime.install import Layout
from pyrelease.assemble.runtime.prune import walk
from pyrelease.assemble.runtime.tools import clean_env, run
from pyrelease.errors import BuildError

#: The compiler script, run by the *target* interpreter (also used by ``assemble.libs``).
WORKER = Path(__file__).resolve().parent.parent / "_compile_worker.py"


def check_finds_itself(exe: Path, rt: Path) -> None:
    """Run the bundled interpreter: its ``sys.prefix`` must be ``rt``, not the original."""
    out = run(
        [str(exe), "-I", "-S", "-B", "-c", "import sys; print(sys.prefix)"],
        "starting the runtime",
        clean_env(bundled=True),
    )
    if Path(out.strip()).resolve() != rt.resolve():
        raise BuildError(
            f"the bundled Python does not find its own files (sys.prefix is {out.strip()})"
        )


def compile_stdlib(layout: Layout, rt: Path, dir_name: str, *, sources: bool = True) -> None:
    """Compile the standard library in ``rt`` with its interpreter; drop sources if asked."""
    exe = rt / "bin" / layout.exe_name
    stdlib = rt / layout.stdlib_rel
    # The bundle must find itself, not fall back to the installation it came from.
    check_finds_itself(exe, rt)
    prefix = f"{dir_name}/{layout.stdlib_rel}"  # co_filename is relative to the release
    jobs = [
        (path, None if sources else path.with_suffix(".pyc"), f"{prefix}/{rel}")
        for rel, path in walk(stdlib)
        if rel.endswith(".py")
    ]
    summary = _run_worker(exe, jobs)
    if sources:
        return
    failed = set(summary["failed"])
    for src, _, _ in jobs:
        if str(src) not in failed:
            src.unlink()
    check_finds_itself(exe, rt)  # through os.pyc now, getpath's other landmark


def _run_worker(exe: Path, jobs: list[tuple[Path, Path | None, str]]) -> dict[str, list[str]]:
    files = [[str(src), None if out is None else str(out), dfile] for src, out, dfile in jobs]
    try:
        proc = subprocess.run(
            [str(exe), "-I", "-S", "-B", str(WORKER)],
            input=json.dumps({"files": files, "strip_docstrings": False}),
            capture_output=True,
            text=True,
            env=clean_env(bundled=True),
        )
        summary = json.loads(proc.stdout) if proc.returncode == 0 else None
    except (OSError, ValueError) as exc:
        raise BuildError(f"compiling the standard library failed: {exc}") from None
    if not isinstance(summary, dict) or not summary.get("compiled"):
        detail = proc.stderr.strip()[-2000:] or f"exit status {proc.returncode}"
        raise BuildError(f"compiling the standard library failed: {detail}")
    return summary
