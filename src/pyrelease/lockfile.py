"""Read a standard lock file (PEP 751 ``pylock.toml``, or ``uv.lock``).

The result is what the build environment installs: for every locked package
whose marker holds on the target, either one wheel compatible with the target
interpreter, an sdist, or a local directory — each with its sha256 when the
lock has one.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.tags import Tag
from packaging.utils import canonicalize_name, parse_wheel_filename

from pyrelease.errors import BuildError


@dataclass(frozen=True)
class LockedArtifact:
    """One thing to install: a URL or local path, and its sha256 (None for directories)."""

    name: str
    version: str
    location: str
    sha256: str | None
    kind: str  # "wheel" | "sdist" | "directory"
    filename: str = ""
    """The file's own name (``NAME-VSN-TAGS.whl``), empty for directories."""


def _location(entry: dict, lock_dir: Path) -> str:
    if "url" in entry:
        return entry["url"]
    if "path" in entry:
        # pip wants a URL after "name @": a local path becomes a file: URL.
        return (lock_dir / entry["path"]).resolve().as_uri()
    raise BuildError(f"a lock entry has neither url nor path: {entry.get('name', entry)!r}")


def _filename(entry: dict) -> str:
    """A wheel's or sdist's file name: its ``name`` key, else the last part of its URL/path."""
    if entry.get("name"):
        return str(entry["name"])
    return unquote(urlsplit(str(entry.get("url", entry.get("path", "")))).path).split("/")[-1]


def _best_wheel(wheels: list[dict], tags: list[Tag]) -> dict | None:
    rank = {tag: i for i, tag in enumerate(tags)}
    best: tuple[int, dict] | None = None
    for wheel in wheels:
        filename = _filename(wheel)
        try:
            _, _, _, wheel_tags = parse_wheel_filename(filename)
        except ValueError:
            continue
        score = min((rank[t] for t in wheel_tags if t in rank), default=None)
        if score is not None and (best is None or score < best[0]):
            best = (score, wheel)
    return best[1] if best else None


def _marker_holds(marker: str | None, env: dict[str, str], name: str) -> bool:
    if not marker:
        return True
    try:
        return Marker(marker).evaluate(env)
    except InvalidMarker as exc:
        raise BuildError(f"the lock's marker for {name} is invalid: {exc}") from None


def read_pylock(
    path: Path, tags: list[Tag], env: dict[str, str], target: str = "this target"
) -> list[LockedArtifact]:
    """Artifacts from a PEP 751 lock, for the target described by ``tags`` and ``env``.

    ``target`` names the target in errors (a triple, for ``pyrelease nix-lock``).
    """
    data = _load_toml(path)
    out = []
    for pkg in data.get("packages", []):
        name, version = pkg["name"], pkg.get("version", "")
        if not _marker_holds(pkg.get("marker"), env, name):
            continue
        if "directory" in pkg:
            loc = str((path.parent / pkg["directory"]["path"]).resolve())
            out.append(LockedArtifact(name, version, loc, None, "directory"))
            continue
        wheel = _best_wheel(pkg.get("wheels", []), tags)
        if wheel is not None:
            sha = wheel.get("hashes", {}).get("sha256")
            loc = _location(wheel, path.parent)
            out.append(LockedArtifact(name, version, loc, sha, "wheel", _filename(wheel)))
        elif "sdist" in pkg:
            sdist = pkg["sdist"]
            sha = sdist.get("hashes", {}).get("sha256")
            loc = _location(sdist, path.parent)
            out.append(LockedArtifact(name, version, loc, sha, "sdist", _filename(sdist)))
        else:
            raise BuildError(
                f"the lock has no wheel of {name} {version} for {target} and no sdist; "
                "re-lock on (or for) the target platform"
            )
    return out


def read_uvlock(
    path: Path, tags: list[Tag], env: dict[str, str], target: str = "this target"
) -> list[LockedArtifact]:
    """Artifacts from a ``uv.lock`` (its ``sha256:`` hashes become plain sha256)."""
    data = _load_toml(path)
    out = []
    for pkg in data.get("package", []):
        name, version = pkg["name"], pkg.get("version", "")
        source = pkg.get("source", {})
        if "virtual" in source:
            continue
        if "directory" in source or "editable" in source or "path" in source:
            rel = source.get("directory") or source.get("editable") or source.get("path")
            loc = str((path.parent / rel).resolve())
            out.append(LockedArtifact(name, version, loc, None, "directory"))
            continue
        wheels = [
            {**w, "hashes": {"sha256": w.get("hash", "").removeprefix("sha256:")}}
            for w in pkg.get("wheels", [])
        ]
        wheel = _best_wheel(wheels, tags)
        if wheel is not None:
            loc, sha = _location(wheel, path.parent), wheel["hashes"]["sha256"]
            out.append(LockedArtifact(name, version, loc, sha, "wheel", _filename(wheel)))
        elif "sdist" in pkg:
            sdist = pkg["sdist"]
            sha = sdist.get("hash", "").removeprefix("sha256:") or None
            loc = _location(sdist, path.parent)
            out.append(LockedArtifact(name, version, loc, sha, "sdist", _filename(sdist)))
        else:
            raise BuildError(
                f"uv.lock has no wheel of {name} {version} for {target} and no sdist",
                tip="re-lock on (or for) the target platform",
            )
    return out


def read_lock(
    path: Path, tags: list[Tag], env: dict[str, str], target: str = "this target"
) -> list[LockedArtifact]:
    """Read ``pylock.toml`` or ``uv.lock`` by name."""
    if path.name == "uv.lock":
        return read_uvlock(path, tags, env, target)
    return read_pylock(path, tags, env, target)


def _load_toml(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise BuildError(f"{path} is not valid TOML: {exc}") from None


def without(artifacts: Iterable[LockedArtifact], name: str) -> list[LockedArtifact]:
    """All artifacts except the distribution ``name`` (the project itself)."""
    key = canonicalize_name(name)
    return [a for a in artifacts if canonicalize_name(a.name) != key]
