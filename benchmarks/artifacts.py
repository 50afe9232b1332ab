"""What a pyrelease release ships: its tarballs, its runtime, and the pruned standard library.

The tarballs are written with pyrelease's own deterministic writer (the bytes
the ``tar`` step ships), in both formats: ``.tar.xz`` (the default) and
``.tar.gz``. ``prune_off`` builds the main release again with
``prune_stdlib = false`` to show what pruning saves.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from measure import tree_stats
from tools import Pyrelease, Setup, copy_demo


def release_artifact_stats(release: Path, scratch: Path) -> dict:
    """The release's ``.tar.xz`` and ``.tar.gz`` (pyrelease's writer, and the ms each took),
    its runtime's size and file count, and how many standard-library modules were pruned."""
    from pyrelease.assemble.tarball import write_tarball

    out: dict = {}
    for fmt in ("xz", "gz"):
        tarball = scratch / f"artifact.tar.{fmt}"
        t0 = time.perf_counter()
        write_tarball(release, tarball, fmt)
        out[f"t{fmt}_ms"] = round((time.perf_counter() - t0) * 1e3)
        out[f"tar_step_{fmt}_bytes"] = tarball.stat().st_size
        tarball.unlink()
    out["txz_bytes"] = out["tar_step_xz_bytes"]
    runtime = next(iter(sorted(release.glob("runtime-*"))), None)
    if runtime is not None:
        rt = tree_stats(runtime)
        out.update(runtime_bytes=rt["bytes"], runtime_files=rt["files"])
    listing = next(iter(sorted(release.glob("releases/*/stdlib-pruned.txt"))), None)
    out["stdlib_pruned"] = len(listing.read_text().split()) if listing is not None else 0
    return out


def prune_off(tool: Pyrelease, setup: Setup, cache: Path) -> dict:
    """A fresh copy of the demo with ``prune_stdlib = false``, built with the warm ``cache``:
    the release's and its runtime's size and files, and its tarballs."""
    base = setup.work / "builds" / "prune-off"
    project = copy_demo(base / "demo", setup, tool.strip, ["prune_stdlib = false"])
    tool.probe_log = None
    try:
        build = tool.build(project, cache, "clone")
        release = tool.artifact(project)
        out = {"build_ms": round(build.ms, 1), **tree_stats(release)}
        out.update(release_artifact_stats(release, base))
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)
