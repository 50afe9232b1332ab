"""The release's preload set, decided at build time and written into ``start.json``.

Embedded mode imports these modules before the first application starts.
Python modules run code when imported, so the set is what the release can
reach (see ``importgraph``), never every module on disk. The roots are:

* each application's start callable (``mod``, ``pyrelease.application``
  entry points), in start order;
* the modules ``config/runtime.py`` and the config providers import;
* the modules matching ``preload.include`` patterns.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pyrelease.assemble.importgraph import Graph, PreloadPlan, plan_preload, tool_plugins
from pyrelease.assemble.imports import imports_of
from pyrelease.assemble.libs import LibDir


def roots(release: Any, libs: list[LibDir]) -> list[str]:
    """The modules the node imports by name at boot, in the order it does."""
    found: list[str] = []
    for lib in libs:
        if lib.dist.mode != "none" and lib.dist.start:
            found.append(lib.dist.start.split(":")[0].strip())
    spec = release.spec
    if spec.runtime_config_path is not None:
        runtime_py = Path(release.project.root) / spec.runtime_config_path
        if runtime_py.is_file():
            found += imports_of(runtime_py.read_bytes(), "__runtime_config__").every
    for provider in spec.config_providers:
        if ":" in provider.ref:
            found.append(provider.ref.split(":")[0])
    return found


def plan(release: Any, libs: list[LibDir], graph: Graph) -> PreloadPlan:
    """What embedded mode imports at boot, and what it leaves out with the reason."""
    assert release.site_packages is not None
    available = {m for lib in libs if lib.dist.mode != "none" for m in lib.modules}
    return plan_preload(
        graph,
        roots(release, libs),
        available,
        include=release.spec.preload.include,
        exclude=release.spec.preload.exclude,
        plugins=tool_plugins(release.distributions, release.site_packages),
    )
