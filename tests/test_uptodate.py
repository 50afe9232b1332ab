"""A rebuild with nothing changed reports the release up to date and writes nothing;
any change to what the release is built from, or to the release itself, rebuilds it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import pyrelease as pyrelease_package
from helpers import DEMO, copy_project, ensure_demo_lock, free_port, node, pyrelease, run

pytestmark = pytest.mark.e2e

UP_TO_DATE = "Release demo_minimal-0.1.0 is up to date at"
ASSEMBLED = "* assembling demo_minimal-0.1.0"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = copy_project(DEMO, tmp_path_factory.mktemp("uptodate") / "demo")
    ensure_demo_lock(project)
    config = project / "config" / "config.py"
    # Build-time configuration that depends on the environment of the build.
    config.write_text(
        config.read_text() + '\nimport os\nconfig("demo", flavour=os.environ.get("FLAVOUR", "a"))\n'
    )
    first = build(project)
    assert ASSEMBLED in first.stdout, first.stdout + first.stderr
    return project


def build(project: Path, *args: str, env: dict[str, str] | None = None):
    result = pyrelease("build", "demo_minimal", "--overwrite", *args, cwd=project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def release(project: Path) -> Path:
    return project / "_build" / "prod" / "rel" / "demo_minimal"


def tarball(project: Path) -> Path:
    return project / "_build" / "prod" / "demo_minimal-0.1.0.tar.xz"


def snapshot(project: Path) -> dict[str, tuple[int, int]]:
    """(inode, mtime) of every file of the release and of the tarball."""
    files = [p for p in release(project).rglob("*") if p.is_file()] + [tarball(project)]
    return {str(p): (p.stat().st_ino, p.stat().st_mtime_ns) for p in files}


def assert_up_to_date(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    before = snapshot(project)
    result = build(project, *args, env=env)
    assert UP_TO_DATE in result.stdout, result.stdout
    assert ASSEMBLED not in result.stdout
    assert "bin/demo_minimal start" in result.stdout  # the how-to block is still printed
    assert snapshot(project) == before  # nothing was rewritten


def assert_rebuilt(project: Path, *args: str, env: dict[str, str] | None = None) -> None:
    result = build(project, *args, env=env)
    assert ASSEMBLED in result.stdout, result.stdout
    assert UP_TO_DATE not in result.stdout


def test_nothing_changed_is_up_to_date_even_without_overwrite(project: Path) -> None:
    assert_up_to_date(project)
    plain = pyrelease("build", "demo_minimal", cwd=project, input="")
    assert plain.returncode == 0, plain.stderr
    assert UP_TO_DATE in plain.stdout  # no "already exists" question: nothing to replace


def test_running_the_release_does_not_make_it_stale(project: Path) -> None:
    script = release(project) / "bin" / "demo_minimal"
    with node(script, {"PORT": str(free_port())}) as n:
        n.wait_for("started in")
        assert run(script, "pid").returncode == 0
    assert (release(project) / "tmp").is_dir()
    assert (release(project) / "releases" / "COOKIE").is_file()
    assert_up_to_date(project)


def test_editing_a_source_file_rebuilds(project: Path) -> None:
    views = project / "src" / "demo" / "views.py"
    views.write_text(views.read_text() + "\n# edited\n")
    assert_rebuilt(project)
    assert_up_to_date(project)


def test_a_changed_release_or_a_missing_tarball_is_rebuilt(project: Path) -> None:
    env_sh = release(project) / "releases" / "0.1.0" / "env.sh"
    original = env_sh.read_text()
    env_sh.write_text(original + "echo tampered\n")
    assert_rebuilt(project)
    assert env_sh.read_text() == original
    tarball(project).unlink()
    assert_rebuilt(project)
    assert tarball(project).is_file()
    assert_up_to_date(project)


def test_build_time_config_and_environment_are_inputs(project: Path) -> None:
    sys_config = release(project) / "releases" / "0.1.0" / "sys.config"
    assert_rebuilt(project, env={"FLAVOUR": "b"})
    assert json.loads(sys_config.read_text())["demo"]["flavour"] == "b"
    assert_up_to_date(project, env={"FLAVOUR": "b"})
    assert_rebuilt(project, env={"FLAVOUR": "b", "SOURCE_DATE_EPOCH": "1700000000"})
    assert_rebuilt(project)  # back to FLAVOUR=a and the default epoch
    assert json.loads(sys_config.read_text())["demo"]["flavour"] == "a"


def test_options_force_and_no_compile_rebuild(project: Path) -> None:
    assert_rebuilt(project, "--version", "0.1.0-rc1")  # another version: another release
    assert_rebuilt(project)
    assert_rebuilt(project, "--no-compile")  # the environment is used as it is: never skipped
    assert_rebuilt(project)  # the --no-compile build left no stamp to trust
    assert_up_to_date(project)
    forced = build(project, "--force")
    assert ASSEMBLED in forced.stdout
    assert "installing" in forced.stdout  # --force recreates the build environment too
    assert_up_to_date(project)


def test_stamp_lives_in_the_build_directory_not_the_release(project: Path) -> None:
    stamps = list((project / "_build" / "prod" / "stamps").glob("demo_minimal-*.json"))
    assert len(stamps) == 1
    stamp = json.loads(stamps[0].read_text())
    assert stamp["path"] == str(release(project))
    assert not [p for p in release(project).rglob("*") if "stamp" in p.name]
    assert os.path.exists(stamp["path"])


def test_a_closed_stdout_stops_the_output_not_the_build(project: Path) -> None:
    # `pyrelease build | head -1`: the reader goes away after the first line.
    env_sh = release(project) / "releases" / "0.1.0" / "env.sh"
    env_sh.unlink()
    cmd = f"{sys.executable} -m pyrelease build demo_minimal --overwrite | head -c 1; "
    cmd += 'echo " status=${PIPESTATUS[0]}"'
    out = subprocess.run(["bash", "-c", cmd], cwd=project, capture_output=True, text=True)
    assert out.stdout.endswith(" status=0\n"), out.stdout + out.stderr
    assert "Traceback" not in out.stderr
    assert env_sh.is_file()
    assert_up_to_date(project)


def test_another_installation_of_pyrelease_rebuilds(project: Path, tmp_path: Path) -> None:
    """Two installations of the same pyrelease version (a second checkout, an editable
    install elsewhere) build different releases: the stamp of one does not vouch for
    a build by the other."""
    other = tmp_path / "other"
    shutil.copytree(Path(pyrelease_package.__file__).parent, other / "pyrelease")
    env = {"PYTHONPATH": str(other)}
    assert_rebuilt(project, env=env)
    assert_up_to_date(project, env=env)
    assert_rebuilt(project)  # back to the installed one
