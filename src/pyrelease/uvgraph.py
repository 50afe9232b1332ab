"""Which packages of a ``uv.lock`` the target needs: its dependency graph, markers evaluated.

A ``uv.lock`` is universal: it holds every package any platform may need (a
Windows-only dependency, two versions of one package for two Python versions).
Unlike ``pylock.toml`` its packages carry no markers of their own; the markers
are on the dependency edges. Walking the graph from the project and the
workspace members, following only the edges whose marker holds on the target,
gives what the build environment installs.
"""

from __future__ import annotations

from typing import Any

from packaging.markers import InvalidMarker, Marker, UndefinedEnvironmentName
from packaging.utils import canonicalize_name

Key = tuple[str, str]  # (canonical name, version)

_LOCAL = ("editable", "virtual", "directory", "workspace")


def _holds(marker: str | None, env: dict[str, str]) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate({**env, "extra": ""})
    except (InvalidMarker, UndefinedEnvironmentName):
        return True  # when in doubt, install: the release's closure decides what ships


def _roots(data: dict[str, Any], packages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    members = {canonicalize_name(m) for m in data.get("manifest", {}).get("members", [])}
    roots = [p for p in packages if canonicalize_name(p["name"]) in members]
    if not roots:  # a single project: the lock's local package at "."
        roots = [p for p in packages if any(p.get("source", {}).get(k) == "." for k in _LOCAL)]
    return roots


def reachable(data: dict[str, Any], env: dict[str, str]) -> set[Key] | None:
    """The (name, version) pairs reachable from the lock's own projects on the target.

    ``None`` when the lock does not say which its own projects are (then every
    package is kept, as before).
    """
    packages = [p for p in data.get("package", []) if isinstance(p.get("name"), str)]
    by_name: dict[str, list[dict[str, Any]]] = {}
    for p in packages:
        by_name.setdefault(canonicalize_name(p["name"]), []).append(p)
    roots = _roots(data, packages)
    if not roots:
        return None
    seen: set[Key] = set()
    seen_extras: set[tuple[Key, str]] = set()
    todo: list[tuple[dict[str, Any], tuple[str, ...]]] = [(p, ()) for p in roots]
    while todo:
        pkg, extras = todo.pop()
        key = (canonicalize_name(pkg["name"]), str(pkg.get("version", "")))
        edges = [] if key in seen else list(pkg.get("dependencies", []))
        seen.add(key)
        optional = pkg.get("optional-dependencies", {})
        for extra in extras:
            if (key, extra) not in seen_extras:
                seen_extras.add((key, extra))
                edges += optional.get(extra, [])
        for edge in edges:
            if not _holds(edge.get("marker"), env):
                continue
            candidates = by_name.get(canonicalize_name(edge.get("name", "")), [])
            if "version" in edge:
                candidates = [c for c in candidates if c.get("version") == edge["version"]]
            todo.extend((dep, tuple(edge.get("extra", []))) for dep in candidates)
    return seen
