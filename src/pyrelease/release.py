"""The ``Release`` object: the one thing every step receives and returns.

Fields a user step may change before ``assemble``: ``version``, ``path``,
``applications``, ``config`` (build-time configuration), ``overlays``,
``steps`` (the steps still to run), ``options`` (free-form data for later
steps). After ``assemble``, ``path`` holds the finished release and changing
fields has no effect on it; ``tar`` packs what is at ``path``.

Until every step has succeeded, ``path`` (and the tarball in ``extra``) are
staged beside their final places, listed in ``staged``; they are switched in
at the very end, so a failing step leaves the previous release as it was.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyrelease.config import TAR_FORMATS, ProjectConfig, ReleaseSpec, check_cli_version
from pyrelease.console import Console
from pyrelease.errors import ConfigError

if TYPE_CHECKING:
    from pyrelease.distributions import Distribution


@dataclass
class BuildOptions:
    """Command-line options of ``pyrelease build``."""

    env: str = "prod"
    overwrite: bool = False
    force: bool = False
    quiet: bool = False
    compile: bool = True
    deps_check: bool = True
    python_version_check: bool = True
    path: str | None = None
    version: str | None = None
    offline: bool = False
    find_links: str | None = None
    target: str | None = None
    include_runtime: str | None = None


@dataclass
class Release:
    """A release being built: its settings, distributions and where it goes."""

    name: str
    version: str
    env: str
    path: Path
    project: ProjectConfig
    spec: ReleaseSpec
    options: BuildOptions
    console: Console
    steps: list[str]
    applications: dict[str, str] = field(default_factory=dict)
    distributions: list[Distribution] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    compile_env: list[dict[str, Any]] = field(default_factory=list)
    overlays: list[Path] = field(default_factory=list)
    site_packages: Path | None = None
    local_names: set[str] = field(default_factory=set)  # the project's own packages
    python: Any = None  # assemble.runtime.PythonInstall
    runtime_prefetch: Any = None  # assemble.runtime.bundle.Prefetch, while the build runs
    extra: dict[str, Any] = field(default_factory=dict)
    #: (built aside, final place) pairs, switched in once every step has succeeded.
    staged: list[tuple[Path, Path]] = field(default_factory=list)

    @property
    def build_dir(self) -> Path:
        """``_build/ENV`` of the project."""
        return self.project.root / "_build" / self.env

    @property
    def version_path(self) -> Path:
        """``releases/VSN`` inside the release."""
        return self.path / "releases" / self.version

    @property
    def tarball_path(self) -> Path:
        """Where the ``tar`` step writes: inside ``path`` when it was configured."""
        name = f"{self.name}-{self.version}{TAR_FORMATS[self.spec.tar_format]}"
        if self.spec.path or self.options.path:
            return self.path / name
        return self.build_dir / name

    def relative(self, path: Path) -> str:
        """``path`` relative to the current directory when below it (for messages)."""
        try:
            return os.path.relpath(path)
        except ValueError:
            return str(path)


def from_spec(
    project: ProjectConfig, spec: ReleaseSpec, options: BuildOptions, console: Console
) -> Release:
    """Make the ``Release`` for ``spec``: CLI options override ``pyproject.toml``."""
    path_text = options.path or spec.path
    path = (
        (project.root / path_text).resolve()
        if path_text and not os.path.isabs(path_text)
        else Path(path_text)
        if path_text
        else project.root / "_build" / options.env / "rel" / spec.name
    )
    if options.version is not None:
        check_cli_version(options.version)
    version = options.version or spec.version or project.version
    overlays = [project.root / spec.rel_templates_path / "overlays"]
    overlays += [project.root / o for o in spec.overlays]
    return Release(
        name=spec.name,
        version=version,
        env=options.env,
        path=path,
        project=project,
        spec=spec,
        options=options,
        console=console,
        steps=list(spec.steps),
        applications=dict(spec.applications),
        overlays=overlays,
    )


#: The longest file name most filesystems allow (ext4, xfs, btrfs, tmpfs: 255 bytes).
NAME_MAX = 255


def check_file_names(name: str, version: str) -> None:
    """Refuse a release name or version whose files would exceed ``NAME_MAX`` bytes.

    The name and version become file names (``releases/VSN``, ``bin/NAME``) and
    parts of longer ones: the staging folder ``.NAME.building-XXXXXXXX``, the
    stamp ``NAME-KEY.json`` and the tarball ``NAME-VSN.tar.gz.partial``.
    """
    derived = [
        ("release name", name, f".{name}.building-XXXXXXXX", "a shorter release name"),
        ("release name", name, f"{name}-0123456789abcdef.json", "a shorter release name"),
        ("version", version, f"{name}-{version}.tar.gz.partial", "a shorter version or name"),
    ]
    for what, value, file_name, fix in derived:
        size = len(file_name.encode("utf-8", "surrogateescape"))
        if size > NAME_MAX:
            shown = value if len(value) <= 40 else value[:40] + "..."
            example = file_name if len(file_name) <= 48 else file_name[:48] + "..."
            raise ConfigError(
                [
                    f"the {what} {shown} is too long: the file {example} it needs would be "
                    f"{size} bytes, over the filesystem's limit of {NAME_MAX} bytes"
                ],
                tip=f"choose {fix}",
            )
