"""Reproducibility is a feature: two builds of the same project in different
directories, at different times, umasks and hash seeds give identical bytes."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from helpers import DEMO, copy_project, ensure_demo_lock

pytestmark = pytest.mark.e2e


def build_in(
    base: Path, umask: str, seed: str, tar_format: str = "xz", env: dict[str, str] | None = None
) -> Path:
    project = copy_project(DEMO, base / "checkout" / "demo")
    ensure_demo_lock(project)
    if tar_format != "xz":  # xz is the default
        pyproject = project / "pyproject.toml"
        steps = 'steps = ["assemble", "tar"]'
        text = pyproject.read_text().replace(steps, f'{steps}\ntar_format = "{tar_format}"')
        pyproject.write_text(text)
    env = {**os.environ, "PYTHONHASHSEED": seed, **(env or {})}
    cmd = f"umask {umask} && exec {sys.executable} -m pyrelease build demo_minimal --quiet"
    result = subprocess.run(["sh", "-c", cmd], cwd=project, env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return project / "_build" / "prod" / f"demo_minimal-0.1.0.tar.{tar_format}"


def test_two_builds_give_identical_tarballs(tmp_path: Path) -> None:
    first = build_in(tmp_path / "one", "022", "1")
    time.sleep(1.1)  # a different wall-clock second for every file written
    second = build_in(tmp_path / "two-elsewhere", "077", "2")
    a, b = first.read_bytes(), second.read_bytes()
    if a != b:
        with tarfile.open(first) as ta, tarfile.open(second) as tb:
            ma = {m.name: m for m in ta.getmembers()}
            mb = {m.name: m for m in tb.getmembers()}
            assert sorted(ma) == sorted(mb)
            differ = [
                n for n in sorted(ma)
                if ma[n].get_info() != mb[n].get_info()
                or (ma[n].isreg() and ta.extractfile(n).read() != tb.extractfile(n).read())
            ]  # fmt: skip
        pytest.fail(f"tarballs differ in {len(differ)} members, e.g. {differ[:10]}")
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()


@pytest.mark.parametrize("tar_format", ["xz", "gz"])
def test_tarball_members_are_normalised(tmp_path: Path, tar_format: str) -> None:
    tarball = build_in(tmp_path, "022", "0", tar_format)
    with tarfile.open(tarball) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert len(names) == len(set(names))
    assert all(not m.isdir() for m in members)
    assert {m.uid for m in members} == {0} and {m.uname for m in members} == {""}
    assert {m.mtime for m in members} == {315532800}
    assert {m.mode for m in members if m.isreg()} <= {0o644, 0o755}
    assert "bin/demo_minimal" in names and "releases/COOKIE" not in names
    raw = tarball.read_bytes()
    if tar_format == "gz":
        assert raw[4:8] == b"\0\0\0\0"  # gzip header time
        subprocess.run(["gzip", "-t", str(tarball)], check=True)
    else:
        assert raw[:6] == b"\xfd7zXZ\0"  # an xz stream (no name or time in its header)
        subprocess.run(["xz", "-t", str(tarball)], check=True)
    listing = subprocess.run(["tar", "-tf", str(tarball)], capture_output=True, text=True)
    assert listing.returncode == 0 and "bin/demo_minimal" in listing.stdout.split()


def test_incremental_rebuild_equals_a_clean_build(tmp_path: Path) -> None:
    # Build, edit one file, rebuild from the caches: only that distribution is
    # compiled again, and the result is byte-identical to a clean build.
    first = build_in(tmp_path / "incremental", "022", "0")
    project = first.parents[2]
    again = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "demo_minimal", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "Release demo_minimal-0.1.0 is up to date" in again.stdout  # nothing rewritten
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")  # not installed: no recompile
    touched = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "demo_minimal", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "assembling" in touched.stdout
    assert "compiling" not in touched.stdout
    views = project / "src" / "demo" / "views.py"
    views.write_text(views.read_text() + "\nEDITED = True\n")
    edited = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "demo_minimal", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert edited.returncode == 0, edited.stderr
    assert "compiling 1 of 2 distributions (demo)" in edited.stdout  # not demo-speedups
    clean = copy_project(project, tmp_path / "clean" / "demo")
    result = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "demo_minimal", "--quiet"],
        cwd=clean, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    clean_tar = clean / "_build" / "prod" / "demo_minimal-0.1.0.tar.xz"
    assert first.read_bytes() == clean_tar.read_bytes()


def test_uv_and_pip_installs_and_reused_wheels_give_the_same_release(tmp_path: Path) -> None:
    # The build environment installed by pip (PYRELEASE_INSTALLER=pip) or by uv
    # gives the same tarball; so does a --force rebuild that reinstalls the local
    # packages from the wheels kept in _build/prod/wheels/ instead of building them.
    with_pip = build_in(tmp_path / "pip", "022", "0", env={"PYRELEASE_INSTALLER": "pip"})
    with_uv = build_in(tmp_path / "uv", "022", "0", env={"PYRELEASE_INSTALLER": "uv"})
    assert with_pip.read_bytes() == with_uv.read_bytes()
    project = with_uv.parents[2]
    again = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "demo_minimal", "--force", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "* reusing built wheels of unchanged demo" in again.stdout
    assert with_uv.read_bytes() == with_pip.read_bytes()
