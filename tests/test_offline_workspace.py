"""`pyrelease build --offline --find-links DIR` of a uv workspace release.

A virtual root (no ``[project]``) with three members: ``core`` (a library),
``web`` (depends on core and on ``offdep``, a third-party wheel) and ``worker``.
The root ``uv.lock`` names offdep's wheel at an address nothing listens on, so only
the links directory can serve it; the members are built from their folders
offline (the fixtures' in-tree build backend), and the virtual root is not built.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_dist, pyrelease, run

pytestmark = pytest.mark.e2e

DEAD_URL = "http://127.0.0.1:9/files"

ROOT = """\
[tool.uv.workspace]
members = ["apps/*"]

[tool.pyrelease]
default_release = "web_only"

[tool.pyrelease.releases.web_only]
include_executables_for = ["unix"]
version = "1.0.0"
applications = { web = "permanent" }
"""

START = "import core.app\n\ndef start(ctx):\n    return {}\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("offline-ws")
    dep = make_dist(base, "offdep", "offdep", "VALUE = 42\n", "[]", "")
    links = base / "links"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(links), str(dep)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    (wheel,) = links.glob("*.whl")
    root = base / "repo"
    apps = root / "apps"
    apps.mkdir(parents=True)
    (root / "pyproject.toml").write_text(ROOT)
    sources = "[tool.uv.sources]\ncore = { workspace = true }\n"
    make_dist(apps, "core", "core", "GREETING = 'hello from core'\n", "[]", "")
    make_dist(
        apps, "web", "web", START, '["core", "offdep"]',
        sources + '[tool.pyrelease]\nmod = "web.app:start"\n',
    )  # fmt: skip
    make_dist(
        apps, "worker", "worker", START, '["core"]',
        sources + '[tool.pyrelease]\nmod = "worker.app:start"\n',
    )  # fmt: skip
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (root / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.11"\n\n'
        '[manifest]\nmembers = ["core", "web", "worker"]\n\n'
        '[[package]]\nname = "core"\nversion = "1.0.0"\nsource = { editable = "apps/core" }\n\n'
        '[[package]]\nname = "web"\nversion = "1.0.0"\nsource = { editable = "apps/web" }\n'
        'dependencies = [{ name = "core" }, { name = "offdep" }]\n\n'
        '[[package]]\nname = "worker"\nversion = "1.0.0"\n'
        'source = { editable = "apps/worker" }\ndependencies = [{ name = "core" }]\n\n'
        '[[package]]\nname = "offdep"\nversion = "1.0.0"\n'
        f'source = {{ registry = "{DEAD_URL}/simple" }}\n'
        f'wheels = [{{ url = "{DEAD_URL}/{wheel.name}", hash = "sha256:{digest}" }}]\n'
    )
    return root, links


def _lib(release: Path) -> set[str]:
    return {p.name.partition("-")[0] for p in (release / "lib").iterdir()}


def test_a_root_release_builds_offline_with_only_its_members(
    workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    root, links = workspace
    out = tmp_path / "web_only"
    result = pyrelease(
        "build", "web_only", "--offline", "--find-links", str(links), "--path", str(out),
        cwd=root, env={"PIP_INDEX_URL": f"{DEAD_URL}/simple"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert _lib(out) == {"core", "web", "offdep"}  # not worker's code, no root package
    got = run(out / "bin" / "web_only", "eval", "import core.app, offdep.app; "
              "print(core.app.GREETING, offdep.app.VALUE)")  # fmt: skip
    assert got.stdout.strip() == "hello from core 42", got.stderr


def test_a_member_builds_offline_from_its_own_folder(
    workspace: tuple[Path, Path], tmp_path: Path
) -> None:
    root, links = workspace
    out = tmp_path / "web"
    result = pyrelease(
        "build", "--offline", "--find-links", str(links), "--path", str(out),
        cwd=root / "apps" / "web", env={"PIP_INDEX_URL": f"{DEAD_URL}/simple"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert _lib(out) == {"core", "web", "offdep"}
    got = run(out / "bin" / "web", "eval", "import web.app, offdep.app; print(offdep.app.VALUE)")
    assert got.stdout.strip() == "42", got.stderr
