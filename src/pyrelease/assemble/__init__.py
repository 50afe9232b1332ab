"""The ``assemble`` and ``tar`` steps.

Assembly writes the whole release into a staging directory beside the
destination; the steps after it see the staged release at ``release.path``,
and it is renamed into place only when every step has succeeded (see
``steps.commit``): a failed build leaves the previous release untouched, and a
rebuilt one holds exactly what this build produced (only ``releases/COOKIE`` is
carried over, as in the model). The tarball is staged the same way.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pyrelease
from pyrelease import startcheck
from pyrelease.assemble import libcache, preload
from pyrelease.assemble.bootfiles import write_boot_files
from pyrelease.assemble.fsutil import (
    make_staging,
    normalize_tree,
    replaced_trees,
    source_date_epoch,
    wait_for_removals,
)
from pyrelease.assemble.importgraph import Graph, needed_test_dirs, source_readers
from pyrelease.assemble.libs import CompileWorker, LibDir, write_libs
from pyrelease.assemble.prunestep import prune_runtime
from pyrelease.assemble.runtime import (
    RuntimeInfo,
    bundle_runtime,
    host_triple,
    needed_system_libs,
    newest_glibc,
    reuse,
)
from pyrelease.assemble.runtime.loader import scrub_store_paths
from pyrelease.assemble.tarball import write_tarball
from pyrelease.commandspec import check_program
from pyrelease.config import is_version
from pyrelease.distributions import Distribution
from pyrelease.errors import BuildError
from pyrelease.overlays import check_overlays, copy_overlays
from pyrelease.release import Release, check_file_names


def check_before_assembly(release: Release) -> None:
    """What a step before ``assemble`` may have changed: version, names, overlays."""
    if not is_version(release.version):
        raise BuildError(
            f"the release version {release.version!r} is not a valid PEP 440 version",
            tip="a step before assemble set it; give a version such as 1.2.3",
        )
    check_file_names(release.name, release.version)
    check_overlays(release)


def assemble(release: Release) -> Release:
    """Write the release beside ``release.path`` and point ``release.path`` at it.

    The staged release is switched into the final place when every step has succeeded.
    """
    check_before_assembly(release)
    c = release.console
    c.step(f"assembling {release.name}-{release.version} on PYRELEASE_ENV={release.env}")
    spec = release.spec
    if spec.runtime_config_path and (release.project.root / spec.runtime_config_path).is_file():
        c.step(f"using {spec.runtime_config_path} to configure the release at runtime")
    elif spec.runtime_config_path:
        c.step(f"skipping runtime configuration ({spec.runtime_config_path} not found)")
    staging = make_staging(release.path)
    try:
        _fill(release, staging)
        normalize_tree(staging)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    release.staged.append((staging, release.path))
    release.path = staging
    return release


def _binaries(root: Path) -> list[Path]:
    """The files of the release that may be ELF: shared objects and executables."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        in_bin = os.path.basename(dirpath) == "bin"
        for name in sorted(filenames):
            if in_bin or name.endswith(".so") or ".so." in name:
                path = os.path.join(dirpath, name)
                if not os.path.islink(path):
                    found.append(Path(path))
    return found


def _fill(release: Release, root: Path) -> None:
    python = release.python
    assert release.site_packages is not None
    graph = Graph.build(
        release.distributions, release.site_packages, release.build_dir / "lib-cache"
    )
    wanted = _lib_slots(release, graph)
    # Started now, the compile worker's interpreter starts while the runtime is copied.
    worker = CompileWorker(python.executable) if any(e is None for _, _, e in wanted[1]) else None
    # The release this one replaces, whose unchanged files are linked, not copied: not
    # when a user step runs after this one (it could write through a link into it, see
    # reuse.py; release.steps holds the steps still to run).
    previous = release.path if reuse.may_link(release.steps) and release.path.is_dir() else None
    # A file of the previous release is linked only if nothing else shares it: the
    # release it replaced (left aside, see steps.commit) must be gone first.
    wait_for_removals()
    for tree in replaced_trees(release.path):  # a step changed the path meanwhile
        shutil.rmtree(tree, ignore_errors=True)
    try:
        info = _runtime(release, root, previous)
        libs = _libs(release, root, wanted, worker, previous)
    finally:
        if worker is not None:
            worker.close()
    _finish(release, root, info, libs, graph, previous)


def _runtime(release: Release, root: Path, previous: Path | None) -> RuntimeInfo | None:
    """Copy the runtime into the release (None when it has none)."""
    spec, python = release.spec, release.python
    if spec.include_runtime is False:
        return None
    sources = not spec.strip.enabled or "sources" in spec.strip.keep
    info = bundle_runtime(python, root, sources=sources, progress=release.console.step,
                          prefetched=release.runtime_prefetch, previous=previous,
                          leave_out_pruned=spec.prune_stdlib.enabled)  # fmt: skip
    target = release.options.target
    if target and info.triple != target:
        raise BuildError(
            f"the release is for {target} but its Python runtime is built for {info.triple}",
            tip="set include_runtime to a Python built for the target",
        )
    return info


def _finish(
    release: Release,
    root: Path,
    info: RuntimeInfo | None,
    libs: list[LibDir],
    graph: Graph,
    previous: Path | None,
) -> None:
    spec, python = release.spec, release.python
    runtime_libs: tuple[str, ...] = info.needed_libs if info is not None else ()
    own_loader = info.own_loader if info is not None else False
    triple = release.options.target or host_triple()
    startcheck.check_release(release, root, libs)
    plan = preload.plan(release, libs, graph)
    graph.save()
    release.console.step(
        f"preload: {len(plan.modules)} modules reachable from the start callables; "
        f"{len(plan.skipped)} left out"
    )
    extensions = [p for lib in libs for p in lib.extensions if p.exists()]
    build_info = {
        "name": release.name,
        "version": release.version,
        "env": release.env,
        "triple": triple,
        "python": python.version,
        "include_runtime": spec.include_runtime is not False,
        "needed_libs": sorted(set(runtime_libs) | set(needed_system_libs(extensions))),
        # The newest glibc symbol version its binaries need: a deploy checks the target's.
        "glibc": newest_glibc(_binaries(root)),
        "pyrelease": pyrelease.__version__,
        "source_date_epoch": source_date_epoch(),
    }
    write_boot_files(release, root, libs, build_info, plan, previous)
    if own_loader:  # a runtime from a Nix store: the release must name no store path
        scrub_store_paths(root)
    copy_overlays(release, root)
    if spec.command:  # after the overlays: a program of the release may come from one
        modules = {m for lib in libs for m in lib.modules}
        problem = check_program(spec.command, root, release.version, modules)
        if problem:
            raise BuildError(
                f"release {release.name}: {problem}",
                tip="use a console script of a distribution in the release, -m MODULE, "
                "or a path inside the release",
            )
    if info is not None and spec.prune_stdlib.enabled:
        prune_runtime(release, root, info, libs, graph)
        graph.save()
    old_cookie = release.path / "releases" / "COOKIE"
    new_cookie = root / "releases" / "COOKIE"
    if old_cookie.is_file() and not new_cookie.exists():
        shutil.copy2(old_cookie, new_cookie)


_Wanted = tuple[dict[str, set[str]], list[tuple[Distribution, Path, dict | None]], set[str]]


def _lib_slots(release: Release, graph: Graph) -> _Wanted:
    """The test folders ``strip`` keeps, for every distribution its ``lib/`` cache
    slot and that slot's entry (None: not cached, to be compiled), and the
    distributions whose sources ``strip`` keeps."""
    assert release.site_packages is not None
    python, strip = release.python, release.spec.strip
    cache_tag = f"cpython-{python.version_short.replace('.', '')}"
    cache_dir = release.build_dir / "lib-cache"
    kept_tests: dict[str, set[str]] = {}
    if strip.enabled and "tests" not in strip.keep:
        kept_tests = needed_test_dirs(graph, release.distributions)
    kept_sources = _kept_sources(release, graph)
    slots = []
    for dist in release.distributions:
        kept = kept_tests.get(dist.name, set())
        key = libcache.cache_key(dist, release.site_packages, cache_tag, strip, kept,
                                 keep_sources=dist.name in kept_sources)  # fmt: skip
        cached = libcache.slot(cache_dir, dist, key)
        slots.append((dist, cached, libcache.read_entry(cached)))
    return kept_tests, slots, kept_sources


def _kept_sources(release: Release, graph: Graph) -> set[str]:
    """Distributions that keep their sources under ``strip``: the project's own
    packages, and those whose code reads sources with ``inspect`` (reported)."""
    strip = release.spec.strip
    if not strip.enabled or "sources" in strip.keep:
        return set()
    names = {d.name for d in release.distributions}
    local = sorted(names & release.local_names)
    readers = sorted(source_readers(graph) & names - set(local))
    if local or readers:
        parts = [f"{', '.join(local)} (the project's own)"] if local else []
        if readers:
            parts.append(f"{', '.join(readers)} (read sources with inspect)")
        release.console.step(f"strip: sources kept for {'; '.join(parts)}")
    return {*local, *readers}


def _libs(
    release: Release,
    root: Path,
    wanted: _Wanted,
    worker: CompileWorker | None,
    previous: Path | None,
) -> list[LibDir]:
    """``lib/`` for every distribution: cached folders reused, the rest compiled."""
    assert release.site_packages is not None
    python, strip = release.python, release.spec.strip
    cache_tag = f"cpython-{python.version_short.replace('.', '')}"
    kept_tests, slots, kept_sources = wanted
    found: dict[str, LibDir] = {}
    misses = []
    for dist, cached, data in slots:
        entry = libcache.load(dist, cached, root, data, previous) if data is not None else None
        if entry is None:
            misses.append((dist, cached))
        else:
            found[dist.name] = entry
    if misses:
        names = ", ".join(d.name for d, _ in misses)
        release.console.step(f"compiling {len(misses)} of {len(release.distributions)} "
                             f"distributions ({names})")  # fmt: skip
    built = write_libs(
        [d for d, _ in misses],
        release.site_packages,
        root,
        python=python.executable,
        cache_tag=cache_tag,
        strip=strip,
        kept_tests=kept_tests,
        kept_sources=kept_sources,
        worker=worker,
    )
    for entry, (_, cached) in zip(built, misses, strict=True):
        libcache.store(entry, root, cached)
        found[entry.dist.name] = entry
    return [found[d.name] for d in release.distributions]


def tar(release: Release) -> Release:
    """Pack the assembled release into ``NAME-VSN.tar.xz`` (``tar_format = "gz"``: ``.tar.gz``).

    Inside the (staged) release when ``path`` is configured, else in
    ``_build/ENV``, written under its own name in a private folder there and
    switched into place with the release.
    """
    dest = release.tarball_path
    final = next((f for s, f in release.staged if s == release.path), release.path)
    shown = final / dest.relative_to(release.path) if release.path in dest.parents else dest
    release.console.step(f"building {shown}")
    if release.path in dest.parents:
        # Inside the release, the tarball must not pack itself: write it aside first.
        release.build_dir.mkdir(parents=True, exist_ok=True)
        aside = Path(tempfile.mkdtemp(prefix=".tar-", dir=release.build_dir))
        try:
            _write_tarball(release, aside / dest.name, shown)
            shutil.move(aside / dest.name, dest)
        finally:
            shutil.rmtree(aside, ignore_errors=True)
        release.extra["tarball"] = dest
        return release
    dest.parent.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=".tar-", dir=dest.parent))
    staged = aside / dest.name
    release.staged.append((staged, dest))
    _write_tarball(release, staged, shown)
    release.extra["tarball"] = staged
    return release


def _write_tarball(release: Release, dest: Path, shown: Path) -> None:
    try:
        write_tarball(release.path, dest, release.spec.tar_format)
    except OSError as exc:  # a full disk, a quota, a file size limit
        raise BuildError(
            f"cannot write the tarball {release.relative(shown)}: {exc.strerror or exc}",
            tip="make room for it and build again (the previous release was kept)",
        ) from None
