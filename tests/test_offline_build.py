"""`pyrelease build --offline --find-links DIR` and `--target TRIPLE`: no index, local files."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_dist, pyrelease, run
from pyrelease.assemble.runtime import host_triple

pytestmark = pytest.mark.e2e

# The lock names the wheel at an address nothing listens on: only the local file can serve.
DEAD_URL = "http://127.0.0.1:9/files"


@pytest.fixture(scope="module")
def offline_project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An app depending on ``offdep``, locked in a uv.lock; offdep's wheel in a links dir."""
    base = tmp_path_factory.mktemp("offline")
    dep = make_dist(base, "offdep", "offdep", "VALUE = 42\n", "[]", "")
    links = base / "links"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(links), str(dep)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = links.glob("*.whl")
    app = make_dist(
        base, "offapp", "offapp", "import offdep\n", '["offdep"]',
        '[tool.pyrelease]\n[tool.pyrelease.releases.offapp]\ninclude_executables_for = ["unix"]\n',
    )  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (app / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.11"\n\n'
        '[[package]]\nname = "offapp"\nversion = "1.0.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "offdep" }]\n\n'
        '[[package]]\nname = "offdep"\nversion = "1.0.0"\n'
        f'source = {{ registry = "{DEAD_URL}/simple" }}\n'
        f'wheels = [{{ url = "{DEAD_URL}/{wheel.name}", hash = "sha256:{digest}" }}]\n'
    )
    return app, links


def test_offline_build_installs_from_the_links_dir_and_records_the_target(
    offline_project: tuple[Path, Path],
) -> None:
    app, links = offline_project
    triple = host_triple()
    result = pyrelease(
        "build", "--offline", "--find-links", str(links), "--target", triple, "--overwrite",
        cwd=app, env={"PIP_INDEX_URL": f"{DEAD_URL}/simple"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rel = app / "_build" / "prod" / "rel" / "offapp"
    info = json.loads((rel / "releases" / "1.0.0" / "build_info.json").read_text())
    assert info["triple"] == triple
    out = run(rel / "bin" / "offapp", "eval", "import offdep.app; print(offdep.app.VALUE)")
    assert out.stdout.strip() == "42", out.stderr


def test_a_missing_file_is_named_and_nothing_is_built(
    offline_project: tuple[Path, Path], tmp_path: Path
) -> None:
    app, _ = offline_project
    empty = tmp_path / "empty-links"
    empty.mkdir()
    result = pyrelease(
        "build", "--offline", "--find-links", str(empty), "--force", "--path", str(tmp_path / "r"),
        cwd=app,
    )  # fmt: skip
    assert result.returncode == 1
    assert "offdep-1.0.0-py3-none-any.whl (offdep 1.0.0)" in result.stderr
    assert str(empty) in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_a_target_the_runtime_is_not_built_for_is_refused(
    offline_project: tuple[Path, Path], tmp_path: Path
) -> None:
    app, links = offline_project
    other = "aarch64-unknown-linux-gnu" if "x86_64" in host_triple() else "x86_64-unknown-linux-gnu"
    result = pyrelease(
        "build", "--offline", "--find-links", str(links), "--target", other,
        "--path", str(tmp_path / "r"), cwd=app,
    )  # fmt: skip
    assert result.returncode == 1
    assert f"the release is for {other} but its Python runtime is built for" in result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--find-links", "."], "--find-links is used with --offline only"),
        (["--target", "sparc-sun-solaris"], "unknown target triple 'sparc-sun-solaris'"),
        (["--offline", "--find-links", "nowhere"], "offapp/nowhere is not a directory"),
    ],
)
def test_bad_offline_options_are_refused(
    offline_project: tuple[Path, Path], args: list[str], message: str
) -> None:
    app, _ = offline_project
    result = pyrelease("build", *args, cwd=app)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr


def test_offline_needs_a_lock(tmp_path: Path) -> None:
    app = make_dist(tmp_path, "nolock", "nolock", "", "[]", "")
    result = pyrelease("build", "--offline", cwd=app)
    assert result.returncode == 1
    assert "--offline needs a lock file" in result.stderr
