"""Compile Python sources to deterministic ``.pyc`` files with the interpreter running it.

This file is run as a script by the *target* interpreter (the one a release ships, which
may be another CPython version than the one running pyrelease, with other magic numbers),
never imported by the build side::

    python -I -S -B _compile_worker.py < job.json
    python -I -S -B _compile_worker.py ROOT [DFILE_PREFIX]

Standard library only; it runs on CPython 3.11 to 3.13.

The JSON job read from stdin::

    {"files": [[abs_src_path, abs_pyc_out_path_or_null, dfile], ...],
     "strip_docstrings": false, "jobs": null}

``abs_pyc_out_path`` ``null`` means the PEP 3147 location beside the source
(``__pycache__/NAME.cpython-XY.pyc``). ``dfile`` is the file name recorded in the code
objects (``co_filename``); callers pass a path relative to the release root so that no
build path ends up in a release. Importlib replaces it by the real path at load time when
the source file exists, so tracebacks still name real files. ``jobs`` caps the number of
files compiled at the same time (default: the number of CPUs).

With ``ROOT`` every ``*.py`` below ``ROOT`` is compiled beside its source, ``dfile`` being
``DFILE_PREFIX/RELATIVE_PATH`` (``RELATIVE_PATH`` alone without a prefix).

Every ``.pyc`` is written with invalidation mode UNCHECKED_HASH at optimisation level 0.
A summary goes to stdout as JSON::

    {"compiled": N, "failed": [src, ...], "errors": [src, ...]}

``failed`` lists sources that do not compile (syntax errors, bad encodings), which are
otherwise skipped; ``errors`` lists files that could not be read or written (a traceback
went to stderr), and makes the exit status 1.

**Determinism.** ``marshal`` output is not a function of the code object alone: an object
is marked "may be referenced again" when its reference count is above one, and the
one-character and empty strings are process-wide singletons whose "interned" mark depends
on what was compiled before. Compiling the standard library in another order changes a few
files (``ftplib``, ``html.entities``, ``zoneinfo`` ...). So every file is compiled in a
forked child of a process that never compiles anything itself: each file starts from the
same state, and its ``.pyc`` depends only on the source, ``dfile`` and the interpreter,
whatever else is in the job, in which order, on how many CPUs. Where ``fork`` is missing
(Windows) files are compiled in process, in the order given.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import sys
import traceback
import warnings
from importlib import _bootstrap_external  # type: ignore[attr-defined]

__all__ = ["compile_file", "main", "run", "strip_docstrings"]

# Exit statuses of a child compiling one file.
_OK, _FAILED, _ERROR = 0, 1, 3
# Exceptions that mean "this source does not compile" rather than "something broke".
_COMPILE_ERRORS = (SyntaxError, ValueError, UnicodeDecodeError, RecursionError, MemoryError)


class _DocstringStripper(ast.NodeTransformer):
    """Remove module, class and function docstrings; every other node keeps its lines."""

    def _strip(self, node: ast.AST) -> ast.AST:
        self.generic_visit(node)
        body = node.body  # type: ignore[attr-defined]
        if (
            body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            doc = body.pop(0)
            if not body:
                filler = ast.Pass()
                ast.copy_location(filler, doc)
                body.append(filler)
        return node

    visit_Module = _strip
    visit_ClassDef = _strip
    visit_FunctionDef = _strip
    visit_AsyncFunctionDef = _strip


def strip_docstrings(tree: ast.Module) -> ast.Module:
    """Return ``tree`` without docstrings; a docstring-only body becomes ``pass``."""
    return _DocstringStripper().visit(tree)


def compile_file(src: str, out: str | None, dfile: str, *, strip: bool = False) -> None:
    """Compile ``src`` to an UNCHECKED_HASH ``.pyc`` at ``out`` (PEP 3147 path if None)."""
    with open(src, "rb") as f:
        source = f.read()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SyntaxWarning & co. are the source's business
        if strip:
            tree = ast.parse(source, filename=dfile)
            code = compile(strip_docstrings(tree), dfile, "exec", dont_inherit=True, optimize=0)
        else:
            code = compile(source, dfile, "exec", dont_inherit=True, optimize=0)
    data = _bootstrap_external._code_to_hash_pyc(
        code, importlib.util.source_hash(source), checked=False
    )
    if out is None:
        out = importlib.util.cache_from_source(src, optimization="")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    tmp = f"{out}.{os.getpid()}.tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, out)


def _compile_status(src: str, out: str | None, dfile: str, strip: bool) -> int:
    try:
        compile_file(src, out, dfile, strip=strip)
    except _COMPILE_ERRORS:
        return _FAILED
    except BaseException:
        sys.stderr.write(f"error compiling {src}:\n{traceback.format_exc()}")
        return _ERROR
    return _OK


def _child(src: str, out: str | None, dfile: str, strip: bool) -> None:  # pragma: no cover
    status = _ERROR
    try:
        status = _compile_status(src, out, dfile, strip)
    finally:
        try:
            sys.stderr.flush()
        finally:
            os._exit(status)


def run(
    files: list[tuple[str, str | None, str]], strip: bool, jobs: int | None = None
) -> dict[str, object]:
    """Compile every ``(src, out, dfile)`` entry; return the summary (see the module doc)."""
    results: dict[int, int] = {}
    if hasattr(os, "fork"):
        jobs = max(1, jobs or os.cpu_count() or 1)
        running: dict[int, int] = {}  # pid -> index in files
        todo = iter(enumerate(files))
        exhausted = False
        sys.stdout.flush()
        sys.stderr.flush()
        while running or not exhausted:
            while not exhausted and len(running) < jobs:
                try:
                    index, (src, out, dfile) = next(todo)
                except StopIteration:
                    exhausted = True
                    break
                pid = os.fork()
                if pid == 0:  # pragma: no cover - the child never returns
                    _child(src, out, dfile, strip)
                running[pid] = index
            if running:
                pid, wait_status = os.waitpid(-1, 0)
                index = running.pop(pid)
                code = os.waitstatus_to_exitcode(wait_status)
                results[index] = code if code in (_OK, _FAILED) else _ERROR
    else:
        for index, (src, out, dfile) in enumerate(files):
            results[index] = _compile_status(src, out, dfile, strip)
    ordered = [(files[i][0], results[i]) for i in range(len(files))]
    return {
        "compiled": sum(1 for _, status in ordered if status == _OK),
        "failed": [src for src, status in ordered if status == _FAILED],
        "errors": [src for src, status in ordered if status == _ERROR],
    }


def _tree_job(root: str, prefix: str | None) -> list[tuple[str, str | None, str]]:
    files: list[tuple[str, str | None, str]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            if name.endswith(".py"):
                src = os.path.join(dirpath, name)
                rel = os.path.relpath(src, root).replace(os.sep, "/")
                files.append((src, None, f"{prefix.rstrip('/')}/{rel}" if prefix else rel))
    return files


def main(argv: list[str]) -> int:
    """Entry point: a tree (``ROOT [DFILE_PREFIX]``) or a JSON job on stdin."""
    jobs: int | None = None
    if argv:
        if len(argv) > 2 or argv[0].startswith("-"):
            sys.stderr.write("usage: _compile_worker.py [ROOT [DFILE_PREFIX]] < job.json\n")
            return 2
        files = _tree_job(argv[0], argv[1] if len(argv) > 1 else None)
        strip = False
    else:
        job = json.load(sys.stdin)
        files = [(str(src), out, str(dfile or src)) for src, out, dfile in job.get("files", [])]
        strip = bool(job.get("strip_docstrings", False))
        jobs = job.get("jobs")
    summary = run(files, strip, jobs)
    json.dump(summary, sys.stdout, sort_keys=True)
    sys.stdout.write("\n")
    return 1 if summary["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
