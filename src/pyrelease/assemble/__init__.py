"""The ``assemble`` and ``tar`` steps.

Assembly writes the whole release into a staging directory beside the
destination and renames it into place at the end: a failed build leaves the
previous release untouched, and a rebuilt one holds exactly what this build
produced (only ``releases/COOKIE`` is carried over, as in the model).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pyrelease
from pyrelease.assemble import libcache
from pyrelease.assemble.bootfiles import write_boot_files
from pyrelease.assemble.fsutil import (
    copy_tree,
    make_staging,
    normalize_tree,
    source_date_epoch,
    swap_into_place,
)
from pyrelease.assemble.libs import LibDir, write_libs
from pyrelease.assemble.prunestep import prune_runtime
from pyrelease.assemble.runtime import bundle_runtime, host_triple, needed_system_libs
from pyrelease.assemble.tarball import write_tarball
from pyrelease.release import Release


def assemble(release: Release) -> Release:
    """Write the release to ``release.path`` (built aside, then switched in)."""
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
        swap_into_place(staging, release.path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return release


def _fill(release: Release, root: Path) -> None:
    spec, python = release.spec, release.python
    runtime_libs: tuple[str, ...] = ()
    info = None
    if spec.include_runtime is not False:
        sources = not spec.strip.enabled or "sources" in spec.strip.keep
        info = bundle_runtime(python, root, sources=sources, progress=release.console.step)
        runtime_libs = info.needed_libs
    assert release.site_packages is not None
    libs = _libs(release, root)
    extensions = [p for lib in libs for p in lib.extensions if p.exists()]
    build_info = {
        "name": release.name,
        "version": release.version,
        "env": release.env,
        "triple": host_triple(),
        "python": python.version,
        "include_runtime": spec.include_runtime is not False,
        "needed_libs": sorted(set(runtime_libs) | set(needed_system_libs(extensions))),
        "pyrelease": pyrelease.__version__,
        "source_date_epoch": source_date_epoch(),
    }
    write_boot_files(release, root, libs, build_info)
    for overlay in release.overlays:
        if overlay.is_dir():
            copy_tree(overlay, root)
    if info is not None and spec.prune_stdlib.enabled:
        prune_runtime(release, root, info.dir_name, info.python_rel, libs)
    old_cookie = release.path / "releases" / "COOKIE"
    new_cookie = root / "releases" / "COOKIE"
    if old_cookie.is_file() and not new_cookie.exists():
        shutil.copy2(old_cookie, new_cookie)


def _libs(release: Release, root: Path) -> list[LibDir]:
    """``lib/`` for every distribution: cached folders reused, the rest compiled."""
    assert release.site_packages is not None
    python, strip = release.python, release.spec.strip
    cache_tag = f"cpython-{python.version_short.replace('.', '')}"
    cache_dir = release.build_dir / "lib-cache"
    found: dict[str, LibDir] = {}
    misses = []
    for dist in release.distributions:
        key = libcache.cache_key(dist, release.site_packages, cache_tag, strip)
        cached = libcache.slot(cache_dir, dist, key)
        entry = libcache.load(dist, cached, root)
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
    )
    for entry, (_, cached) in zip(built, misses, strict=True):
        libcache.store(entry, root, cached)
        found[entry.dist.name] = entry
    return [found[d.name] for d in release.distributions]


def tar(release: Release) -> Release:
    """Pack the assembled release into ``NAME-VSN.tar.xz`` (``tar_format = "gz"``: ``.tar.gz``)."""
    dest = release.tarball_path
    release.console.step(f"building {dest}")
    # Inside the release path, the tarball must not pack itself: write it aside first.
    if release.path in dest.parents:
        tmp = release.build_dir / dest.name
        write_tarball(release.path, tmp, release.spec.tar_format)
        shutil.move(tmp, dest)
    else:
        write_tarball(release.path, dest, release.spec.tar_format)
    release.extra["tarball"] = dest
    return release
