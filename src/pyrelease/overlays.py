"""Overlays: folders of the project copied as they are into the release root.

Checked before anything is built, then again while copying:

* a configured overlay folder must exist (the default ``rel/overlays`` may be
  absent) and lie inside the project once symlinks are resolved, so a link
  cannot ship a folder from elsewhere on the build machine;
* an overlay holds files, folders and symlinks only; named pipes, sockets and
  devices are refused with their path (reading a pipe would wait forever);
* a symlink is copied as a symlink, and must point inside the release:
  absolute targets and targets that climb out of it are refused.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

from pyrelease.errors import BuildError, ConfigError
from pyrelease.release import Release
from pyrelease.sources import special_kind


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _shown(release: Release, path: Path) -> str:
    """``path`` relative to the project when inside it (for messages)."""
    try:
        return path.relative_to(release.project.root).as_posix()
    except ValueError:
        return str(path)


def default_overlay(release: Release) -> Path:
    """``rel/overlays``: used when it exists, silently skipped when it does not."""
    return release.project.root / release.spec.rel_templates_path / "overlays"


def check_overlays(release: Release) -> list[Path]:
    """The overlay folders to copy, in order; refuse missing or escaping ones."""
    project = os.path.realpath(release.project.root)
    found = []
    for overlay in release.overlays:
        overlay = Path(overlay)
        shown = _shown(release, overlay)
        if not os.path.lexists(overlay):
            if overlay == default_overlay(release):
                continue
            raise ConfigError(
                [f"release {release.name}: the overlay folder {shown} does not exist"],
                tip="create it, or remove it from `overlays` in pyproject.toml",
            )
        real = os.path.realpath(overlay)
        if not _inside(real, project):
            raise BuildError(
                f"the overlay folder {shown} resolves to {real}, outside the project",
                tip="overlays must be folders inside the project: copy the files in "
                "instead of linking to them",
            )
        if not os.path.isdir(real):
            raise BuildError(
                f"the overlay {shown} is not a folder",
                tip="an overlay is a folder whose contents are copied into the release",
            )
        found.append(overlay)
    return found


def copy_overlays(release: Release, root: Path) -> None:
    """Copy every overlay into ``root`` (the release being assembled), checking links."""
    links: list[tuple[Path, str, str]] = []
    for overlay in check_overlays(release):
        links += _copy(Path(os.path.realpath(overlay)), root, _shown(release, overlay))
    base = os.path.realpath(root)
    for dest, shown, target in links:
        if os.path.isabs(target) or not _inside(os.path.realpath(dest), base):
            raise BuildError(
                f"the overlay link {shown} points to {target}, outside the release",
                tip="replace the link by the file it points to, or make it a relative link "
                "to a path inside the release",
            )


def _copy(src: Path, root: Path, shown: str) -> list[tuple[Path, str, str]]:
    """Copy ``src`` below ``root``; return the links made as (dest, shown path, target)."""
    links = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        here = Path(dirpath)
        rel_dir = here.relative_to(src)
        for name in sorted(dirnames + filenames):
            path = here / name
            rel = rel_dir / name
            dest = root / rel
            st = os.lstat(path)
            kind = special_kind(st.st_mode)
            if kind is not None:
                raise BuildError(
                    f"{shown}/{rel.as_posix()} is a {kind}; an overlay may hold only files, "
                    "folders and symlinks",
                    tip="remove it from the overlay folder",
                )
            if stat.S_ISDIR(st.st_mode):
                if not dest.is_dir() or dest.is_symlink():
                    _clear(dest)
                    dest.mkdir()
                continue
            _clear(dest)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(path)
                os.symlink(target, dest)
                links.append((dest, f"{shown}/{rel.as_posix()}", target))
            else:
                shutil.copy2(path, dest)
    return links


def _clear(dest: Path) -> None:
    """An overlay entry replaces whatever the release has at that path."""
    if dest.is_symlink() or dest.is_file():
        dest.unlink()
    elif dest.is_dir():
        shutil.rmtree(dest)
