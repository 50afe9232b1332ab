"""The ``prune_stdlib`` part of assembly: gather the release's code, prune, report.

The release's code is every module of its distributions (read from the build
environment, sources even when the release ships bytecode only), the node
package, ``config/`` and the overlays' Python files. The list of what was
removed goes to ``releases/VSN/stdlib-pruned.txt`` in the release, so that an
``ImportError`` on a target can be checked against it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pyrelease
from pyrelease.assemble import stdlibprune
from pyrelease.assemble.libs import LibDir
from pyrelease.assemble.runtime.install import find_layout
from pyrelease.errors import BuildError
from pyrelease.release import Release

NODE_SRC = Path(pyrelease.__file__).parent / "node"
LIST_NAME = "stdlib-pruned.txt"


def _release_sources(release: Release, root: Path) -> Iterator[tuple[bytes, str, bool]]:
    """(source, module, is package) of every Python module of the release."""
    assert release.site_packages is not None
    for dist in release.distributions:
        for rel in dist.files:
            if not rel.endswith(".py"):
                continue
            found = stdlibprune._module_name(rel.split("/"))
            path = release.site_packages / rel
            if found is not None and path.is_file():
                yield path.read_bytes(), found[0], found[1]
    for path in sorted(NODE_SRC.glob("*.py")):
        yield path.read_bytes(), f"pyrelease.node.{path.stem}", path.stem == "__init__"
    extra = [release.project.root / "config", *release.overlays]
    for top in extra:
        if top.is_dir():
            for path in sorted(top.rglob("*.py")):
                yield path.read_bytes(), path.stem, False


def _cache_file(release: Release, sources: Path) -> Path:
    here = Path(__file__).parent
    h = hashlib.sha256(str(sources).encode())
    for name in ("imports.py", "stdlibprune.py"):
        h.update(hashlib.sha256((here / name).read_bytes()).digest())
    key = h.hexdigest()[:16]
    return release.build_dir / "lib-cache" / f"stdlib-imports-{release.python.version}-{key}.json"


def _check_names(spec_names: tuple[str, ...], index: stdlibprune.StdlibIndex, part: str) -> None:
    modules = index.modules
    unknown = [n for n in spec_names if not any(stdlibprune._matches(m, [n]) for m in modules)]
    if unknown:
        names = ", ".join(unknown)
        raise BuildError(
            f"prune_stdlib.{part} names {names}, which the bundled standard library does not "
            'have; list standard-library modules only (like "xml.dom" or "email.*")'
        )


def prune_runtime(
    release: Release, root: Path, dir_name: str, python_rel: str, libs: list[LibDir]
) -> stdlibprune.PruneResult:
    """Prune ``root/dir_name``'s standard library to what the release can import."""
    spec = release.spec.prune_stdlib
    layout = find_layout(release.python)
    stdlib = root / dir_name / layout.stdlib_rel
    dynload = root / dir_name / layout.dynload_rel
    index = stdlibprune.index_stdlib(stdlib, dynload)
    _check_names(spec.keep, index, "keep")
    _check_names(spec.drop, index, "drop")
    startup = stdlibprune.startup_modules(root / python_rel)
    needed = [m for m in startup if m in index.modules and stdlibprune._matches(m, spec.drop)]
    if needed:
        raise BuildError(
            f"prune_stdlib.drop removes {', '.join(needed)}, which Python imports at start-up; "
            "take them off the list"
        )
    roots = [*startup, *stdlibprune.release_roots(_release_sources(release, root), index)]
    for lib in libs:
        for ext in lib.extensions:
            roots += stdlibprune.named_in_binary(ext, index.modules)
    result = stdlibprune.prune_stdlib(
        stdlib, dynload, layout.stdlib, roots, keep=spec.keep, drop=spec.drop,
        cache=_cache_file(release, layout.stdlib),
    )  # fmt: skip
    listing = root / "releases" / release.version / LIST_NAME
    listing.parent.mkdir(parents=True, exist_ok=True)
    listing.write_text("".join(f"{m}\n" for m in result.removed), encoding="utf-8")
    total = len(result.kept) + len(result.removed)
    release.console.step(
        f"pruned the standard library: kept {len(result.kept)} of {total} modules, removed "
        f"{len(result.removed)} ({result.removed_bytes / 1e6:.1f} MB; listed in "
        f"releases/{release.version}/{LIST_NAME}; prune_stdlib.keep adds modules)"
    )
    return result
