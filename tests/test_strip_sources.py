"""``strip`` keeps the sources that code reads at run time: those of the project's own
packages, and of a distribution whose code calls ``inspect.getsource`` and friends."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import make_dist, pyrelease, run, write_pylock

pytestmark = pytest.mark.e2e

READER = """
import inspect

def shout():
    return "HEY"

def own_source():
    return inspect.getsource(shout).splitlines()[0]
"""

PLAIN = "def value():\n    return 42\n"

SVC = """
def fail():
    raise ValueError("boom from svc")
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("keepsrc")
    for name, code in (("reader", READER), ("plain", PLAIN)):
        dist = make_dist(base / "src", name, name, code, "[]", "")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "-w", str(base / "wheels"), str(dist)],
            check=True, capture_output=True,
        )  # fmt: skip
    project = make_dist(base, "svc", "svc", SVC, '["reader", "plain"]', "")
    write_pylock(project, sorted((base / "wheels").glob("*.whl")))
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "svc", result.stdout


def test_the_build_says_whose_sources_it_keeps_and_why(built) -> None:
    _, out = built
    assert (
        "strip: sources kept for svc (the project's own); reader (read sources with inspect)" in out
    )


def test_a_distribution_reading_its_sources_keeps_them_and_works(built) -> None:
    root, _ = built
    reader = root / "lib" / "reader-1.0.0" / "reader"
    assert (reader / "app.py").is_file()
    assert list((reader / "__pycache__").glob("app.cpython-*.pyc"))
    assert not (reader / "app.pyc").exists()
    out = run(root / "bin" / "svc", "eval", "import reader.app; print(reader.app.own_source())")
    assert (out.returncode, out.stdout) == (0, "def shout():\n"), out.stderr


def test_a_distribution_not_reading_sources_stays_sourceless(built) -> None:
    root, _ = built
    plain = root / "lib" / "plain-1.0.0" / "plain"
    assert (plain / "app.pyc").is_file() and not (plain / "app.py").exists()
    assert not (plain / "__pycache__").exists()
    out = run(root / "bin" / "svc", "eval", "import plain.app; print(plain.app.value())")
    assert (out.returncode, out.stdout) == (0, "42\n"), out.stderr


def test_the_projects_own_package_keeps_sources_for_tracebacks(built) -> None:
    root, _ = built
    assert (root / "lib" / "svc-1.0.0" / "svc" / "app.py").is_file()
    out = run(root / "bin" / "svc", "eval", "import svc.app; svc.app.fail()")
    assert out.returncode == 1
    assert 'raise ValueError("boom from svc")' in out.stderr  # the source line is shown


def test_keep_sources_still_keeps_every_source(tmp_path: Path) -> None:
    tool = '[tool.pyrelease.releases.svc]\nstrip = { keep = ["sources"] }\n'
    project = make_dist(tmp_path, "svc", "svc", SVC, "[]", tool)
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "strip: sources kept" not in result.stdout  # all are: nothing to single out
    lib = project / "_build" / "prod" / "rel" / "svc" / "lib" / "svc-1.0.0" / "svc"
    assert (lib / "app.py").is_file()


def test_compress_zips_the_projects_sources_beside_their_pyc(tmp_path: Path) -> None:
    tool = "[tool.pyrelease.releases.svc]\nstrip = { compress = true }\n"
    project = make_dist(tmp_path, "svc", "svc", SVC, "[]", tool)
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    root = project / "_build" / "prod" / "rel" / "svc"
    with zipfile.ZipFile(root / "lib" / "svc-1.0.0.zip") as zf:
        names = set(zf.namelist())
    assert {"svc/app.py", "svc/app.pyc"} <= names  # the zip importer finds the .pyc there
    out = run(root / "bin" / "svc", "eval", "import svc.app; print(svc.app.__file__)")
    assert out.stdout.strip().endswith("svc-1.0.0.zip/svc/app.pyc"), out.stderr
    out = run(root / "bin" / "svc", "eval", "import svc.app; svc.app.fail()")
    assert out.returncode == 1
    assert 'raise ValueError("boom from svc")' in out.stderr
