"""Write ``lib/DIST-VSN/`` for every distribution, with deterministic ``.pyc``.

```text
lib/
  jinja2-3.1.6/
    jinja2/__init__.py              (kept with strip.keep = ["sources"])
    jinja2/__pycache__/__init__.cpython-311.pyc   (unchecked-hash pyc)
    jinja2-3.1.6.dist-info/         METADATA, entry_points.txt, RECORD (rewritten)
  markupsafe-3.0.4/ ...
  demo-0.1.0.zip                    (strip.compress: pure-Python distributions only)
```
With ``strip`` (the default) sources are replaced by sourceless ``.pyc`` beside
them; docstrings go unless kept, and so do ``test``/``tests`` folders that no
code outside them imports (``importgraph.needed_test_dirs`` decides). The
project's own packages and distributions that read their sources with
``inspect`` keep them (``importgraph.source_readers``).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import time
import zipfile
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyrelease.assemble.fsutil import source_date_epoch, walk_sorted
from pyrelease.config import StripSpec
from pyrelease.distributions import Distribution
from pyrelease.errors import BuildError

WORKER = Path(__file__).with_name("_compile_worker.py")
# Installer bookkeeping that names the build machine or would go stale.
DROPPED_METADATA = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "uv_cache.json"}
TEST_DIRS = {"tests", "test"}
EXTENSION_SUFFIXES = (".so", ".pyd")


@dataclass
class LibDir:
    """What was written for one distribution."""

    dist: Distribution
    rel_path: str  # "lib/jinja2-3.1.6" or "lib/demo-0.1.0.zip"
    modules: list[str] = field(default_factory=list)
    pth: list[str] = field(default_factory=list)
    extensions: list[Path] = field(default_factory=list)


def keep_file(
    rel: str, dist: Distribution, strip: StripSpec, kept_tests: Collection[str] = ()
) -> bool:
    """Whether an installed file (path relative to site-packages) goes into the release.

    ``kept_tests`` are the test folders (relative to site-packages) that
    code outside them imports: ``strip`` keeps them.
    """
    parts = rel.split("/")
    if parts[0] == dist.dist_info:
        return parts[-1] not in DROPPED_METADATA
    if "__pycache__" in parts or rel.endswith((".pyc", ".pyo")):
        return False
    if strip.enabled and "tests" not in strip.keep:
        return all(
            "/".join(parts[: i + 1]) in kept_tests
            for i, p in enumerate(parts[:-1])
            if p in TEST_DIRS
        )
    return True


def copy_distribution(
    dist: Distribution, site: Path, dest: Path, strip: StripSpec, kept_tests: Collection[str] = ()
) -> None:
    """Copy the files the distribution's RECORD lists from site-packages to ``dest``."""
    for rel in dist.files:
        if not keep_file(rel, dist, strip, kept_tests):
            continue
        src = site / rel
        if not src.is_file():
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)


def module_names(root: Path) -> list[str]:
    """Importable module names under ``root`` (sorted), for the preload list."""
    names = set()
    for path in walk_sorted(root):
        rel = path.relative_to(root)
        if path.is_dir() or "__pycache__" in rel.parts or not rel.parts:
            continue
        dirs = rel.parts[:-1]
        if any(not d.isidentifier() for d in dirs):
            continue
        stem = rel.name.split(".")[0]
        if not stem.isidentifier() or stem == "__main__":
            continue
        if not rel.name.endswith((".py", ".pyc", *EXTENSION_SUFFIXES)):
            continue
        parts = list(dirs) if stem == "__init__" else [*dirs, stem]
        if parts:
            names.add(".".join(parts))
    return sorted(names)


class CompileWorker:
    """The compile worker, started ahead of its job so that the target interpreter's
    start-up overlaps other work of the build.

    It waits for its job on stdin, so its state when it compiles (and so every
    ``.pyc`` it writes) is the same as a worker started with the job at hand.
    It runs one job (:meth:`compile`); :meth:`close` ends it if it got none (and
    should this process die first, the worker reads the end of its input and exits).
    """

    def __init__(self, python: Path) -> None:
        self.proc: subprocess.Popen[str] | None = subprocess.Popen(
            [str(python), "-I", "-S", "-B", str(WORKER)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip

    def compile(self, jobs: list[tuple[Path, Path, str]], strip_docstrings: bool) -> None:
        """Compile ``jobs`` (see :func:`compile_files`); the worker exits afterwards."""
        proc, self.proc = self.proc, None
        if proc is None:
            raise RuntimeError("this compile worker has run its job already")
        with proc:
            _, err = proc.communicate(_payload(jobs, strip_docstrings))
        if proc.returncode != 0:
            raise BuildError(f"byte-compiling failed: {err.strip()[-2000:]}")

    def close(self) -> None:
        """End the worker if it has not run a job (a build that failed meanwhile)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            with proc:
                proc.kill()
                proc.communicate()


def _payload(jobs: list[tuple[Path, Path, str]], strip_docstrings: bool) -> str:
    return json.dumps(
        {
            "files": [[str(src), str(out), dfile] for src, out, dfile in jobs],
            "strip_docstrings": strip_docstrings,
        }
    )


def compile_files(
    python: Path,
    jobs: list[tuple[Path, Path, str]],
    strip_docstrings: bool,
    worker: CompileWorker | None = None,
) -> None:
    """Compile with the *target* interpreter (its magic number) via the worker
    (``worker``: one started before, which this job ends)."""
    if not jobs:
        if worker is not None:
            worker.close()
        return
    if worker is None:
        worker = CompileWorker(python)
    worker.compile(jobs, strip_docstrings)


def plan_compile(
    root: Path, rel_prefix: str, cache_tag: str, sourceless: bool
) -> list[tuple[Path, Path, str]]:
    """Compile jobs for every ``.py`` below ``root``: (source, pyc, name in tracebacks)."""
    jobs = []
    for path in walk_sorted(root):
        if path.suffix != ".py" or not path.is_file():
            continue
        dfile = f"{rel_prefix}/{path.relative_to(root).as_posix()}"
        if sourceless:
            out = path.with_suffix(".pyc")
        else:
            out = path.parent / "__pycache__" / f"{path.stem}.{cache_tag}.pyc"
        jobs.append((path, out, dfile))
    return jobs


def write_record(root: Path, dist_info: str) -> None:
    """Rewrite RECORD for the files as they are in the release."""
    rows = []
    for path in walk_sorted(root):
        if path.is_dir():
            continue
        rel = path.relative_to(root).as_posix()
        data = path.read_bytes()
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        rows.append(f"{rel},sha256={digest},{len(data)}")
    rows.append(f"{dist_info}/RECORD,,")
    (root / dist_info / "RECORD").write_text("\n".join(rows) + "\n", encoding="utf-8")


def zip_dir(src: Path, dest: Path) -> None:
    """A deterministic zip of ``src`` (sorted, fixed times and modes)."""
    epoch = source_date_epoch()
    stamp = time.gmtime(epoch)[:6]
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for path in walk_sorted(src):
            if path.is_dir():
                continue
            info = zipfile.ZipInfo(path.relative_to(src).as_posix(), date_time=stamp)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, path.read_bytes())


def write_libs(
    dists: list[Distribution],
    site: Path,
    release_root: Path,
    *,
    python: Path,
    cache_tag: str,
    strip: StripSpec,
    kept_tests: Mapping[str, Collection[str]] | None = None,
    kept_sources: Collection[str] = (),
    worker: CompileWorker | None = None,
) -> list[LibDir]:
    """Write every distribution under ``release_root/lib`` and byte-compile it.

    ``kept_tests`` maps a distribution name to the test folders ``strip`` keeps;
    ``kept_sources`` names the distributions whose sources ``strip`` keeps (in the
    layout of ``keep = ["sources"]``; zipped by ``compress``, each ``.pyc`` sits beside
    its source, where the zip importer looks for it);
    ``worker`` is a compile worker for ``python`` started before (see :class:`CompileWorker`).
    """
    lib = release_root / "lib"
    sourceless = strip.enabled and "sources" not in strip.keep
    results, jobs, drop = [], [], []
    for dist in dists:
        dest = lib / dist.lib_name
        dest.mkdir(parents=True)
        copy_distribution(dist, site, dest, strip, (kept_tests or {}).get(dist.name, ()))
        entry = LibDir(dist, f"lib/{dist.lib_name}")
        entry.pth = sorted(p.name for p in dest.glob("*.pth"))
        entry.extensions = sorted(p for p in dest.rglob("*") if p.name.endswith(EXTENSION_SUFFIXES))
        keep_sources = sourceless and dist.name in kept_sources
        zipped = strip.compress and not entry.extensions and not entry.pth
        planned = plan_compile(dest, entry.rel_path, cache_tag,
                               sourceless and (not keep_sources or zipped))  # fmt: skip
        if sourceless and not keep_sources:
            drop += [src for src, _, _ in planned]
        jobs += planned
        results.append(entry)
    compile_files(python, jobs, strip.enabled and "docstrings" not in strip.keep, worker)
    for src in drop:
        src.unlink()
    for entry in results:
        dest = lib / entry.dist.lib_name
        entry.modules = module_names(dest)
        write_record(dest, entry.dist.dist_info)
        if strip.compress and not entry.extensions and not entry.pth:
            zip_dir(dest, dest.with_name(dest.name + ".zip"))
            shutil.rmtree(dest)
            entry.rel_path += ".zip"
    return results
