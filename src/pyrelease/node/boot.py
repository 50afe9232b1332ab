"""Boot a node: read its manifest, put the release's code on ``sys.path``,
compute its configuration (rebooting with it when asked) and, in embedded
mode, preload it."""

import os
import sys
import time

from pyrelease.node import appconfig, configload, manifest
from pyrelease.node.manifest import Manifest
from pyrelease.node.releaseenv import Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any


class BootError(EnvError):
    """The release cannot boot as it is; printed as one ``ERROR:`` line, exit status 1."""


# The runtime's own interpreter; ``sys.executable`` becomes the release's (see
# release_executable below).
RUNTIME_EXECUTABLE = sys.executable


def check_python(m: "manifest.Manifest") -> None:
    """A release built without its runtime needs exactly the Python it was built with."""
    if m.include_runtime:
        return
    import platform  # ~1.5-4 ms: only imported when there is something to check

    if platform.python_version() != m.python_version:
        raise BootError(
            f"this release was built for Python {m.python_version} but {sys.executable} is "
            f"{platform.python_version()}; install that exact version or build the release "
            "with include_runtime = true"
        )


def load_node(
    env: "Env", script: str, settings: "dict[str, Any]"
) -> "tuple[manifest.Manifest, dict[str, Any]]":
    """Read the boot manifest, set up ``sys.path`` and compute the configuration."""
    m = manifest.load(os.path.join(env.vsn_dir, script + ".json"))
    check_python(m)
    setup_paths(env.root, m)
    config = configload.compute(env.vsn_dir, env.sys_config + ".config", m.env, settings)
    appconfig.set_current(config, env=m.env)
    return m, config


def maybe_reboot_after_config(
    env: "Env", config: "dict[str, Any]", settings: "dict[str, Any]", lock: int | None = None
) -> None:
    """``reboot_system_after_config``: write the computed config and start afresh with it.

    The node's lock is handed over to the new image, so no other node can start between.
    """
    if not settings.get("reboot_system_after_config") or os.environ.get(
        "PYRELEASE_CONFIG_COMPUTED"
    ):
        return
    import json

    from pyrelease.node import nodelock, safefiles

    safefiles.check_tmp(env.tmp)
    base = os.path.join(env.tmp, f"{env.name}-{env.vsn}-{time.time_ns()}.runtime.sys")
    data = json.dumps(config, sort_keys=True).encode()
    if not safefiles.create_new(base + ".config", data, 0o600):
        raise BootError(f"{base}.config already exists: is another node booting?")
    os.environ["RELEASE_SYS_CONFIG"] = base
    os.environ["PYRELEASE_CONFIG_COMPUTED"] = "1"
    if settings.get("prune_runtime_sys_config_after_boot"):
        os.environ["PYRELEASE_PRUNE_SYS_CONFIG"] = base + ".config"
    if lock is not None:
        nodelock.hand_over(lock)
    # The runtime itself: sys.executable is the release's launcher by now.
    os.execv(RUNTIME_EXECUTABLE, [RUNTIME_EXECUTABLE, *sys.orig_argv[1:]])


def setup_paths(root: str, manifest: "Manifest") -> None:
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
    index = manifest.extra.get("index")
    if index:
        install_finder({name: os.path.join(root, rel) for name, rel in index.items()})
    pth_files = manifest.extra.get("pth", [])
    if pth_files:
        import site  # only imported when needed: -S means importing it has no side effects

        for rel in pth_files:
            sitedir, name = os.path.split(os.path.join(root, rel))
            site.addpackage(sitedir, name, known)
    release_executable(os.path.join(root, "releases", manifest.version))
    if manifest.extra.get("commands"):  # in the main thread, before any application starts
        from pyrelease.node import commandapp

        commandapp.install_forwarding()


def release_executable(vsn_dir: str) -> None:
    """Make ``sys.executable`` the release's interpreter, ``releases/VSN/bin/python``.

    A child started with it (``multiprocessing``, ``subprocess`` with
    ``sys.executable``, a server re-executing itself) runs with the release's
    code on its path instead of a bare runtime that knows nothing of it.
    Releases built before the launcher existed keep the runtime's own.
    """
    launcher = os.path.join(vsn_dir, "bin", "python")
    if os.path.isfile(launcher):
        sys.executable = launcher


def preload(manifest: "Manifest", log: "Callable[[str], None]") -> tuple[int, int]:
    """Import the release's preload set (embedded mode) and log one summary line.

    The build decided the set (``preload`` in the manifest, in import order)
    and what it left out (``preload_skipped``, with reasons). A listed module
    that fails to import is skipped too: optional integrations of a dependency
    may need what the release does not ship. With ``RELEASE_PRELOAD_DETAILS=1``
    every skipped module is logged with the reason. Returns (preloaded, skipped).
    """
    import importlib

    details = preload_details(os.environ.get("RELEASE_PRELOAD_DETAILS", ""))
    began = time.perf_counter()
    listed = manifest.extra.get("preload", ())
    skipped: dict[str, str] = dict(manifest.extra.get("preload_skipped", {}))
    for module in listed:
        if module in sys.modules:
            continue
        try:
            importlib.import_module(module)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            skipped[module] = f"import failed: {type(exc).__name__}: {exc}"
    count = sum(1 for module in listed if module not in skipped)
    took = (time.perf_counter() - began) * 1000
    log(f"preloaded {count} modules in {took:.0f} ms; {len(skipped)} skipped")
    if details:
        for module, reason in sorted(skipped.items()):
            log(f"preload skipped {module}: {reason}")
    return count, len(skipped)


def preload_details(value: str) -> bool:
    """``RELEASE_PRELOAD_DETAILS``: 1/true/yes lists skipped modules, 0/false/no or unset not."""
    value = value.strip().lower()
    if value in ("", "0", "false", "no"):
        return False
    if value in ("1", "true", "yes"):
        return True
    raise EnvError(f"RELEASE_PRELOAD_DETAILS must be 1 or 0, got {value!r}")


class IndexFinder:
    """Find a release's top-level modules in the one ``lib/`` folder that holds them.

    With one ``sys.path`` entry per distribution, the normal search asks every
    folder in turn: imports slow down with the number of distributions. The
    build records which folder owns each top-level name, so this finder goes
    straight there. Names it does not know (the standard library, namespace
    packages split across distributions, ``.pth`` paths) are left to the normal
    search, which still sees every folder on ``sys.path``.
    """

    def __init__(self, index: dict[str, str]) -> None:
        self.index = index

    def find_spec(self, name: str, path: object = None, target: object = None) -> object:
        if path is not None:
            return None  # a submodule: its package's __path__ is searched normally
        where = self.index.get(name)
        if where is None:
            return None
        finder = sys.path_importer_cache.get(where)
        if finder is None:
            for hook in sys.path_hooks:  # FileFinder for folders, zipimporter for .zip
                try:
                    finder = hook(where)
                    break
                except ImportError:
                    continue
            sys.path_importer_cache[where] = finder
        if finder is None:
            return None
        spec = finder.find_spec(name, target)
        if spec is None or spec.loader is None:
            return None  # a namespace portion: the normal search gathers every portion
        return spec

    def invalidate_caches(self) -> None:
        """Nothing of its own to drop: the folder finders are in sys.path_importer_cache."""


def install_finder(index: dict[str, str]) -> None:
    """Put an :class:`IndexFinder` just before the normal path search."""
    position = len(sys.meta_path)
    for i, finder in enumerate(sys.meta_path):
        if getattr(finder, "__name__", "") == "PathFinder":
            position = i
            break
    sys.meta_path.insert(position, IndexFinder(index))
