"""``lib.mkRelease`` on the example uv workspace (examples/workspace), with the stub
nixpkgs: a root release (``release = "web_only"``) and a member (``subdir``).

The locked third-party wheels are fetched from the package index when the test
starts and added to a fresh store with ``nix-store --add-fixed``, the way Nix lets a
fixed-output file be provided offline; the build itself runs with ``--offline``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, copy_project, pyrelease, run
from nixhelpers import SKIP_REASON, have_nix, nix, stub_usable

pytestmark = [
    pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON),
    pytest.mark.nix,
]

PYTHON = "3.11.2"  # the stub's Python (the host's 3.11) is the release's
TRIPLE = "x86_64-unknown-linux-gnu"

FLAKE = """{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
  inputs.pyrelease.url = "git+file://%(repo)s";
  inputs.pyrelease.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { self, nixpkgs, pyrelease }: let
    pkgs = nixpkgs.legacyPackages.x86_64-linux;
  in {
    packages.x86_64-linux.release-web_only =
      pyrelease.lib.mkRelease { inherit pkgs; src = ./.; release = "web_only"; };
    packages.x86_64-linux.release-worker =
      pyrelease.lib.mkRelease { inherit pkgs; src = ./.; subdir = "apps/worker"; };
  };
}
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("nix-uvws")
    project = copy_project(REPO / "examples" / "workspace", base / "workspace")
    if not (project / "uv.lock").exists():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "lock", "--quiet"], cwd=project, check=True, timeout=600)
    for where in (project, project / "apps" / "worker"):
        result = pyrelease("nix-lock", "--target", TRIPLE, "--python-version", PYTHON, cwd=where)
        assert result.returncode == 0, result.stderr
    (project / "flake.nix").write_text(FLAKE % {"repo": REPO})
    files = json.loads((project / "pyrelease.lock.json").read_text())["targets"][TRIPLE]["files"]
    wheels = base / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.11", "--platform", "manylinux2014_x86_64", "-d", str(wheels),
         *(f"{f['name']}=={f['version']}" for f in files)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    store = base / "store"
    for f in files:
        added = subprocess.run(
            ["nix-store", "--store", str(store), "--add-fixed", "sha256",
             str(wheels / f["filename"])],
            capture_output=True, text=True,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    return project, store


def _build(project: Path, store: Path, attr: str) -> Path:
    stub = REPO / "tests" / "nix" / "stub-nixpkgs"
    result = nix(
        "build", f"path:{project}#{attr}", "--no-link", "--json", "--offline",
        "--store", str(store), "--override-input", "nixpkgs", f"path:{stub}",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    return store / json.loads(result.stdout)[0]["outputs"]["out"].lstrip("/")


def _lib(out: Path) -> set[str]:
    return {p.name.partition("-")[0] for p in (out / "lib").iterdir()}


def test_a_root_release_of_the_workspace(built: tuple[Path, Path]) -> None:
    out = _build(*built, "release-web_only")
    assert out.name.endswith("-web_only-0.3.0")
    assert _lib(out) == {"core", "web", "jinja2", "markupsafe"}
    shown = run(out / "bin" / "web_only", "eval", "import web.app, core; print('ok')")
    assert shown.stdout.strip() == "ok", shown.stderr


def test_a_member_with_subdir(built: tuple[Path, Path]) -> None:
    out = _build(*built, "release-worker")
    assert out.name.endswith("-worker-0.2.0")
    assert _lib(out) == {"core", "worker", "idna"}
