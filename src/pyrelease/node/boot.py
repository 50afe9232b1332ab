"""Put the release's code on ``sys.path`` and, in embedded mode, preload it."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable

from pyrelease.node.manifest import Manifest


def setup_paths(root: str, manifest: Manifest) -> None:
    """Append each loaded application's ``lib/DIST-VSN`` and process its ``.pth`` files.

    The interpreter runs with ``-I -S``: no site-packages, no user site, no
    current directory. ``.pth`` files are processed the way ``site`` would, but
    only those the build recorded, so boot does not list every directory.
    """
    known = set(sys.path)
    for rel in manifest.paths:
        path = os.path.join(root, rel)
        if path not in known:
            sys.path.append(path)
            known.add(path)
    pth_files = manifest.extra.get("pth", [])
    if pth_files:
        import site  # only imported when needed: -S means importing it has no side effects

        for rel in pth_files:
            sitedir, name = os.path.split(os.path.join(root, rel))
            site.addpackage(sitedir, name, known)


def preload(manifest: Manifest, report: Callable[[str, BaseException], None]) -> int:
    """Import every module of every loaded application (embedded mode).

    A module that fails to import is reported and skipped: optional extras of
    a dependency often import things the release does not ship.
    Returns the number of modules imported.
    """
    count = 0
    for app in manifest.applications:
        if app.mode == "none":
            continue
        for module in app.modules:
            if module in sys.modules:
                continue
            try:
                importlib.import_module(module)
                count += 1
            except BaseException as exc:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                report(module, exc)
    return count
