"""A local package whose module files alone changed is installed without a PEP 517
build (its new wheel is written from the last one), and the release and its tarball
are byte for byte those of a clean build of the same sources; any other change
(a new file, pyproject.toml, README) gets a real build."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from helpers import DEMO, copy_project, ensure_demo_lock, pyrelease
from pyrelease.localwheel import static_layout

pytestmark = pytest.mark.e2e

NO_BUILD = "without a build: only module files changed"


def cache_env(base: Path) -> dict[str, str]:
    """An empty wheel cache, beside the machine's warm runtime cache (a link to it)."""
    real = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pyrelease"
    (real / "runtimes").mkdir(parents=True, exist_ok=True)
    (base / "pyrelease").mkdir(parents=True)
    (base / "pyrelease" / "runtimes").symlink_to(real / "runtimes")
    return {"XDG_CACHE_HOME": str(base)}


def new_project(dest: Path) -> Path:
    project = copy_project(DEMO, dest)
    ensure_demo_lock(project)
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text()
    marker = 'applications = { demo-extra = "permanent" }'
    assert marker in text
    pyproject.write_text(text.replace(marker, f'{marker}\nsteps = ["assemble", "tar"]', 1))
    return project


def build(project: Path, env: dict[str, str], *args: str) -> str:
    result = pyrelease("build", "demo", "--overwrite", *args, cwd=project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def tree(root: Path) -> dict[str, tuple[int, str]]:
    """Every file of a release: mode and sha256 (links: their target)."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = (0, os.readlink(path))
        elif path.is_file():
            out[rel] = (path.stat().st_mode, hashlib.sha256(path.read_bytes()).hexdigest())
    return out


def outputs(project: Path) -> tuple[dict, bytes]:
    build_dir = project / "_build" / "prod"
    return tree(build_dir / "rel" / "demo"), (build_dir / "demo-0.1.0.tar.xz").read_bytes()


def test_an_edited_module_is_installed_without_a_build_and_matches_a_clean_build(
    tmp_path: Path,
) -> None:
    env = cache_env(tmp_path / "cache")
    project = new_project(tmp_path / "work" / "demo")
    first = build(project, env)
    assert NO_BUILD not in first

    stats = project / "src" / "demo" / "stats.py"
    stats.write_text(stats.read_text() + "\n\ndef edited() -> int:\n    return 42\n")
    extra = project / "packages" / "demo-extra" / "src" / "demo_extra" / "__init__.py"
    extra.write_text(extra.read_text() + "\nEDITED = True\n")
    edited = build(project, env)
    assert f"updating demo, demo_extra {NO_BUILD}" in edited
    release, tarball = outputs(project)

    # A clean build of the same sources elsewhere, with an empty wheel cache: PEP 517.
    clean_project = copy_project(project, tmp_path / "clean" / "demo")
    clean = build(clean_project, cache_env(tmp_path / "clean-cache"))
    assert NO_BUILD not in clean and "reusing built wheels" not in clean
    clean_release, clean_tarball = outputs(clean_project)
    assert release == clean_release
    assert tarball == clean_tarball
    assert any("stats" in name for name in release)

    # --force recreates the environment from the written wheels, with the same result.
    forced = build(project, env, "--force")
    [reused] = [line for line in forced.splitlines() if "reusing built wheels" in line]
    assert sorted(reused.split("unchanged ", 1)[1].split(", ")) == [
        "demo",
        "demo_extra",
        "demo_speedups",
    ]
    assert outputs(project) == (clean_release, clean_tarball)


def test_sources_seen_before_are_updated_in_place_and_match_a_clean_build(
    tmp_path: Path,
) -> None:
    # An edit undone (or a branch switched back): the wheel of those sources is
    # cached, and the installed copy is updated in place rather than reinstalled.
    env = cache_env(tmp_path / "cache")
    project = new_project(tmp_path / "work" / "demo")
    build(project, env)
    stats = project / "src" / "demo" / "stats.py"
    original = stats.read_text()
    stats.write_text(original + "\nEDITED = 1\n")
    assert f"updating demo {NO_BUILD}" in build(project, env)

    stats.write_text(original)
    undone = build(project, env)
    assert f"updating demo {NO_BUILD}" in undone
    assert "reusing built wheels" not in undone

    clean_project = copy_project(project, tmp_path / "clean" / "demo")
    build(clean_project, cache_env(tmp_path / "clean-cache"))
    assert outputs(project) == outputs(clean_project)


def test_a_new_file_or_a_metadata_change_gets_a_real_build(tmp_path: Path) -> None:
    env = cache_env(tmp_path / "cache")
    project = new_project(tmp_path / "work" / "demo")
    build(project, env)

    added = project / "src" / "demo" / "added_module.py"
    added.write_text("VALUE = 1\n")
    out = build(project, env)
    assert NO_BUILD not in out
    lib = project / "_build" / "prod" / "rel" / "demo" / "lib"
    assert list(lib.glob("demo-0.1.0/demo/__pycache__/added_module.*.pyc"))  # own: sources kept

    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nAnother line.\n")
    assert NO_BUILD not in build(project, env)

    added.write_text("VALUE = 2\n")  # a module again: no build
    assert f"updating demo {NO_BUILD}" in build(project, env)


@pytest.mark.parametrize(
    ("pyproject", "setup_py", "static"),
    [
        ('[build-system]\nbuild-backend = "setuptools.build_meta"\n'
         '[project]\nname = "a"\nversion = "1"\n', False, True),
        ('[build-system]\nbuild-backend = "hatchling.build"\n'
         '[project]\nname = "a"\nversion = "1"\n', False, True),
        ('[build-system]\nbuild-backend = "setuptools.build_meta"\n'
         '[project]\nname = "a"\nversion = "1"\n', True, False),
        ('[build-system]\nbuild-backend = "setuptools.build_meta"\n'
         '[project]\nname = "a"\ndynamic = ["version"]\n', False, False),
        ('[build-system]\nbuild-backend = "hatchling.build"\n'
         '[project]\nname = "a"\nversion = "1"\n'
         '[tool.hatch.build.hooks.custom]\n', False, False),
        ('[build-system]\nbuild-backend = "setuptools.build_meta"\n'
         '[project]\nname = "a"\nversion = "1"\n'
         '[tool.setuptools.cmdclass]\nbuild_py = "x:Y"\n', False, False),
        ('[build-system]\nbuild-backend = "maturin"\n'
         '[project]\nname = "a"\nversion = "1"\n', False, False),
    ],
)  # fmt: skip
def test_which_layouts_may_skip_the_build(
    tmp_path: Path, pyproject: str, setup_py: bool, static: bool
) -> None:
    (tmp_path / "pyproject.toml").write_text(pyproject)
    if setup_py:
        (tmp_path / "setup.py").write_text("from setuptools import setup\nsetup()\n")
    assert static_layout(tmp_path) is static


def test_a_failed_build_leaves_no_copy_of_the_runtime_behind(tmp_path: Path) -> None:
    # The cached runtime is copied while the build environment is prepared; a build
    # that fails after that removes the copy, and one that succeeds moves it in.
    env = cache_env(tmp_path / "cache")
    project = new_project(tmp_path / "work" / "demo")
    build(project, env)
    build_dir = project / "_build" / "prod"
    assert not list(build_dir.glob(".runtime-*"))
    pyproject = project / "pyproject.toml"
    marker = 'steps = ["assemble", "tar"]'
    pyproject.write_text(pyproject.read_text().replace(
        marker, f'{marker}\nprune_stdlib = {{ keep = ["no_such_module"] }}', 1))  # fmt: skip
    failed = pyrelease("build", "demo", "--overwrite", cwd=project, env=env)
    assert failed.returncode != 0 and "no_such_module" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert not list(build_dir.glob(".runtime-*"))
    assert (build_dir / "rel" / "demo" / "bin" / "demo").is_file()
