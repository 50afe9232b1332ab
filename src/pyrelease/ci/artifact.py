"""The artifact CI publishes: ``NAME-VSN-TRIPLE.tar.xz`` (or ``.tar.gz``) and its ``.sha256``.

The name is the one ``release-deploy push`` gives the tarball in a store
(:func:`pyrelease.deploy.index.artifact_name`), so a file downloaded from a
GitHub artifact and one pulled from a store are named alike, and the matrix
jobs of several runners write artifacts side by side without clashing::

    OUT/
      demo-1.2.3-x86_64-unknown-linux-gnu.tar.xz
      demo-1.2.3-x86_64-unknown-linux-gnu.tar.xz.sha256   "DIGEST  NAME" (sha256sum -c)

The suffix says how the tarball is compressed: the release's ``tar_format``
(``xz`` unless the release sets ``gz``), or that of the tarball taken as it is.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pyrelease.config import TAR_FORMATS
from pyrelease.deploy.artifact import sha256_file, sha256_line
from pyrelease.deploy.index import artifact_name
from pyrelease.deploy.index import tarball_suffix as index_suffix
from pyrelease.errors import BuildError


@dataclass(frozen=True)
class Artifact:
    """A release tarball ready to publish."""

    name: str
    version: str
    triple: str
    path: Path
    sha256: str
    size: int

    @property
    def sha256_path(self) -> Path:
        return self.path.with_name(self.path.name + ".sha256")

    @property
    def suffix(self) -> str:
        """``.tar.xz`` or ``.tar.gz``."""
        return tarball_suffix(self.path)

    @property
    def stem(self) -> str:
        """The file name without its suffix: ``NAME-VSN-TRIPLE``."""
        return self.path.name.removesuffix(self.suffix)

    @property
    def store_object(self) -> str:
        """Its object name in a ``release-deploy`` store: ``NAME/VSN/NAME-VSN-TRIPLE.tar.xz``."""
        return artifact_name(self.name, self.version, self.triple, self.suffix)


def tarball_suffix(path: Path) -> str:
    """The tarball suffix ``path`` ends with (``.tar.xz`` or ``.tar.gz``)."""
    suffix = index_suffix(path.name)
    if suffix is not None:
        return suffix
    raise BuildError(
        f"{path.name} is neither a .tar.xz nor a .tar.gz",
        tip="pass the tarball a release's tar step made, or the release directory",
    )


def file_name(name: str, version: str, triple: str, fmt: str = "xz") -> str:
    """``NAME-VSN-TRIPLE.tar.xz`` (``fmt="gz"``: ``.tar.gz``)."""
    return artifact_name(name, version, triple, TAR_FORMATS[fmt]).rsplit("/", 1)[-1]


def read_build_info(release_dir: Path, version: str | None = None) -> dict:
    """``releases/VSN/build_info.json`` of an assembled release (the only one if no ``version``)."""
    if version is not None:
        candidates = [release_dir / "releases" / version / "build_info.json"]
    else:
        candidates = sorted((release_dir / "releases").glob("*/build_info.json"))
    found = [c for c in candidates if c.is_file()]
    if len(found) != 1:
        raise BuildError(
            f"{release_dir} is not an assembled release with one releases/VSN/build_info.json",
            tip="point at the directory `pyrelease build` or `nix build` produced",
        )
    return json.loads(found[0].read_text(encoding="utf-8"))


def publish(
    source: Path | None, release_dir: Path, info: dict, out_dir: Path, fmt: str = "xz"
) -> Artifact:
    """Write ``OUT/NAME-VSN-TRIPLE.tar.xz`` (or ``.tar.gz``) and its ``.sha256``.

    ``source`` is the tarball the release's ``tar`` step made (linked or copied,
    keeping its compression and suffix); without one the release directory is
    packed here in ``fmt``, as the ``tar`` step would. Both files are written
    aside and renamed into place. Returns the :class:`Artifact`.
    """
    from pyrelease.assemble.tarball import write_tarball

    name, version, triple = info["name"], info["version"], info["triple"]
    out_dir.mkdir(parents=True, exist_ok=True)
    if source is not None:
        fmt = next(f for f, sfx in TAR_FORMATS.items() if sfx == tarball_suffix(source))
    dest = out_dir / file_name(name, version, triple, fmt)
    if source is None:
        write_tarball(release_dir, dest, fmt)
    elif source.resolve() != dest.resolve():
        partial = dest.with_name(dest.name + ".partial")
        partial.unlink(missing_ok=True)
        try:
            os.link(source, partial)
        except OSError:
            shutil.copyfile(source, partial)
        os.replace(partial, dest)
    digest = sha256_file(dest)
    artifact = Artifact(name, version, triple, dest, digest, dest.stat().st_size)
    partial = artifact.sha256_path.with_name(artifact.sha256_path.name + ".partial")
    partial.write_text(sha256_line(digest, dest.name), encoding="utf-8")
    os.replace(partial, artifact.sha256_path)
    return artifact
