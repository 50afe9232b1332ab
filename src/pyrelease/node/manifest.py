"""The boot manifest (``releases/VSN/start.json``) written at build time."""

import os

from pyrelease.node import bootcache

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

FORMAT = 1


class AppEntry:
    """One application (installed distribution) of the release, in start order."""

    __slots__ = ("dir", "mode", "name", "start", "version")

    def __init__(self, name: str, version: str, dir: str, mode: str, start: str | None) -> None:
        self.name, self.version, self.dir, self.mode = name, version, dir, mode
        self.start = start

    @property
    def key(self) -> str:
        """The application's configuration key (normalised name)."""
        from pyrelease.node.appconfig import normalize_app

        return normalize_app(self.name)


class Manifest:
    """A parsed boot manifest; paths are relative to the release root."""

    # A plain class, not a dataclass: dataclasses imports inspect (~7 ms of boot).
    def __init__(
        self, *, name: str, version: str, env: str, python_version: str,
        include_runtime: bool, paths: tuple[str, ...], applications: "tuple[AppEntry, ...]",
        extra: "dict[str, Any]",
    ) -> None:  # fmt: skip
        self.name, self.version, self.env = name, version, env
        self.python_version, self.include_runtime = python_version, include_runtime
        self.paths, self.applications, self.extra = paths, applications, extra


class ManifestError(Exception):
    """The boot manifest is missing or unreadable."""


def load(path: str) -> "Manifest":
    """Read a manifest file; raise :class:`ManifestError` with a clear message."""
    try:
        data = bootcache.load_json(path)  # json.load without json (boot time)
    except FileNotFoundError:
        raise ManifestError(f"boot script {path} does not exist") from None
    except (OSError, ValueError) as exc:
        raise ManifestError(f"boot script {path} is unreadable: {exc}") from None
    if data.get("format") != FORMAT:
        raise ManifestError(f"boot script {path} has format {data.get('format')!r}, not {FORMAT}")
    apps = tuple(
        AppEntry(
            name=a["name"],
            version=a["version"],
            dir=a["dir"],
            mode=a["mode"],
            start=a.get("start"),
        )
        for a in data["applications"]
    )
    rel, py = data["release"], data["python"]
    return Manifest(
        name=rel["name"],
        version=rel["version"],
        env=rel["env"],
        python_version=py["version"],
        include_runtime=py["include_runtime"],
        paths=tuple(data["paths"]),
        applications=apps,
        extra={k: v for k, v in data.items() if k not in {"release", "python", "paths"}},
    )


def abspaths(root: str, rel_paths: tuple[str, ...]) -> list[str]:
    """Resolve manifest paths against the release root."""
    return [os.path.join(root, p) for p in rel_paths]
