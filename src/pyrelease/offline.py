"""``pyrelease build --offline``: install only from local files.

The lock's wheels and sdists are taken from the ``--find-links`` directory by their
file name (as Nix provides them, one fixed-output file each) and checked against the
lock's sha256 by pip; a missing file is named before anything is installed. Local
packages (the project, directories in the lock) are built into wheels by the Python
running pyrelease with the build backends installed beside it (no build isolation,
which would download them), so that Python must be the release's Python version.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from pyrelease.buildpaths import path_independent_env
from pyrelease.errors import BuildError, ConfigError
from pyrelease.lockfile import LockedArtifact


def check_options(offline: bool, find_links: str | None, target: str | None) -> None:
    """Refuse option combinations that cannot work, before anything is built."""
    problems = []
    if find_links and not offline:
        problems.append("--find-links is used with --offline only")
    if find_links and not Path(find_links).is_dir():
        problems.append(f"--find-links {find_links} is not a directory")
    if problems:
        raise ConfigError(problems)
    if target:
        from pyrelease.nixlock.targets import get

        get(target)


def local_files(artifacts: list[LockedArtifact], find_links: str | None) -> list[LockedArtifact]:
    """``artifacts`` with each location replaced by the local file that holds it.

    A file the lock names by path (kept in the repository) is used where it is; any
    other must be ``FIND_LINKS/FILENAME``. All missing files are reported at once.
    """
    out, missing = [], []
    for a in artifacts:
        if a.location.startswith("file:"):
            out.append(a)
            continue
        path = Path(find_links) / a.filename if find_links else None
        if path is None or not path.is_file():
            missing.append(f"{a.filename} ({a.name} {a.version})")
            continue
        out.append(
            LockedArtifact(a.name, a.version, path.resolve().as_uri(), a.sha256, a.kind, a.filename)
        )
    if missing:
        where = f"in {find_links}" if find_links else "locally (no --find-links given)"
        raise BuildError(
            f"--offline: {len(missing)} locked file(s) not found {where}: " + ", ".join(missing),
            tip="put the files there (pyrelease.lock.json lists their URLs and sha256), "
            "or build without --offline",
        )
    return out


def build_local_wheels(dirs: list[str], python_version: str) -> tuple[Path, list[Path]]:
    """Build wheels of local source trees with no index and no build isolation.

    Returns the temporary directory (the caller removes it) and the wheels.
    """
    running = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if running != ".".join(python_version.split(".")[:2]):
        raise BuildError(
            f"--offline builds local packages with the Python running pyrelease ({running}), "
            f"and the release runs Python {python_version}: extension modules would not match",
            tip=f"run pyrelease with Python {python_version} (the flake does)",
        )
    tmp = Path(tempfile.mkdtemp(prefix="pyrelease-offline-"))
    cmd = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--no-input"]
    cmd += ["--no-index", "--no-deps", "--no-build-isolation", "-w", str(tmp), *dirs]
    # Their directories are mapped away: a build in another checkout (or in Nix's
    # sandbox) compiles the same extension bytes.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=path_independent_env(dirs))
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BuildError(
            f"building the local packages offline failed:\n{tail}",
            tip="--offline needs their build backends (setuptools, hatchling...) installed "
            "beside pyrelease",
        )
    return tmp, sorted(tmp.glob("*.whl"))
