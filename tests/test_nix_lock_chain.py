"""A user's flake: ``pyrelease.lib.mkRelease`` on a project with real third-party wheels
(jinja2, and markupsafe with its C extension), locked in a uv.lock naming index URLs,
turned into ``pyrelease.lock.json`` by ``pyrelease nix-lock``, fetched by one
fixed-output derivation per file. The files are made available offline the way Nix
allows it (``nix-store --add-fixed``); a file that is not there fails the build naming
the file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, make_dist, pyrelease, run
from nixhelpers import SKIP_REASON, have_nix, nix, stub_usable

pytestmark = [
    pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON),
    pytest.mark.nix,
]

# The stub's Python (the host's 3.11) is the release's: lock for its version.
PYTHON = "3.11.2"
TRIPLE = "x86_64-unknown-linux-gnu"
# Addresses nothing answers on: the files can only come from the store.
FILES_URL = "http://127.0.0.1:9/packages"

USER_FLAKE = """{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";
  inputs.pyrelease.url = "git+file://%(repo)s";
  inputs.pyrelease.inputs.nixpkgs.follows = "nixpkgs";
  outputs = { self, nixpkgs, pyrelease }: {
    packages.x86_64-linux.release-api = pyrelease.lib.mkRelease {
      pkgs = nixpkgs.legacyPackages.x86_64-linux;
      src = ./.;
      release = "api";
    };
  };
}
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real wheels from the package index (fetched now, used offline from here on)."""
    dest = tmp_path_factory.mktemp("wheels")
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
         "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
         "markupsafe==3.0.2", "jinja2==3.1.6", "-d", str(dest)],
        check=True, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    return sorted(dest.glob("*.whl"))


@pytest.fixture(scope="module")
def user_project(tmp_path_factory: pytest.TempPathFactory, wheels: list[Path]) -> Path:
    base = tmp_path_factory.mktemp("user")
    code = "from jinja2 import Template\n\nPAGE = Template('{{ x | e }} & co')\n"
    project = make_dist(
        base, "api", "api", code, '["jinja2"]',
        '[tool.pyrelease.releases.api]\ninclude_executables_for = ["unix"]\n',
    )  # fmt: skip
    packages = []
    # As uv writes it: each package lists what it depends on (a lock is read as a graph).
    requires = {"jinja2": 'dependencies = [{ name = "markupsafe" }]\n'}
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        packages.append(
            f'[[package]]\nname = "{name.lower()}"\nversion = "{version}"\n'
            f'source = {{ registry = "{FILES_URL}/simple" }}\n'
            + requires.get(name.lower(), "")
            + f'wheels = [{{ url = "{FILES_URL}/{wheel.name}", hash = "sha256:{digest}" }}]\n'
        )
    (project / "uv.lock").write_text(
        'version = 1\nrequires-python = ">=3.11"\n\n'
        '[[package]]\nname = "api"\nversion = "1.0.0"\nsource = { editable = "." }\n'
        'dependencies = [{ name = "jinja2" }]\n\n' + "\n".join(packages)
    )
    result = pyrelease("nix-lock", "--target", TRIPLE, "--python-version", PYTHON, cwd=project)
    assert result.returncode == 0, result.stderr
    (project / "flake.nix").write_text(USER_FLAKE % {"repo": REPO})
    return project


def _build(project: Path, store: Path) -> subprocess.CompletedProcess:
    stub = REPO / "tests" / "nix" / "stub-nixpkgs"
    return nix(
        "build", f"path:{project}#release-api", "--no-link", "--json", "--offline",
        "--store", str(store), "--override-input", "nixpkgs", f"path:{stub}",
    )  # fmt: skip


def test_the_lock_names_each_file_with_its_url_and_hash(
    user_project: Path, wheels: list[Path]
) -> None:
    lock = json.loads((user_project / "pyrelease.lock.json").read_text())
    files = {f["filename"]: f for f in lock["targets"][TRIPLE]["files"]}
    assert sorted(files) == sorted(w.name for w in wheels)
    for wheel in wheels:
        assert files[wheel.name]["url"] == f"{FILES_URL}/{wheel.name}"
        assert files[wheel.name]["sha256"] == hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_file_missing_from_the_store_fails_naming_the_file(
    user_project: Path, wheels: list[Path], tmp_path: Path
) -> None:
    result = _build(user_project, tmp_path / "empty-store")
    assert result.returncode != 0
    # The download's derivation is named as the file: the error names it.
    assert any(f"-{w.name}.drv' failed" in result.stderr for w in wheels), result.stderr


def test_locked_wheels_added_to_the_store_build_a_working_release(
    user_project: Path, wheels: list[Path], tmp_path: Path
) -> None:
    store = tmp_path / "store"
    for wheel in wheels:  # the file name is the derivation's name: this satisfies it
        added = subprocess.run(
            ["nix-store", "--store", str(store), "--add-fixed", "sha256", str(wheel)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
    result = _build(user_project, store)
    assert result.returncode == 0, result.stderr[-4000:]
    out = store / json.loads(result.stdout)[0]["outputs"]["out"].lstrip("/")
    assert out.name.endswith("-api-1.0.0")
    assert list((out / "lib").glob("markupsafe-3.0.2/markupsafe/_speedups*.so"))
    shown = run(out / "bin" / "api", "eval", "import api.app; print(api.app.PAGE.render(x='<a>'))")
    assert shown.stdout.strip() == "&lt;a&gt; & co", shown.stderr
    info = json.loads((out / "releases" / "1.0.0" / "build_info.json").read_text())
    assert info["triple"] == TRIPLE
