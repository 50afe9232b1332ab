"""`pyrelease nix-lock` in a uv workspace: at the root and inside a member.

The workspace has one ``uv.lock`` at its root. ``pyrelease.lock.json`` is written
in the folder nix-lock runs in, and every path in it is relative to that folder,
which is where ``lib.mkRelease`` (``src`` + ``subdir``) looks them up.
"""

from __future__ import annotations

import json
from pathlib import Path

from helpers import pyrelease

SHA = "a" * 64
GNU = "x86_64-unknown-linux-gnu"
WHEEL = "pure-1.5-py3-none-any.whl"

UV_LOCK = f"""
version = 1
requires-python = ">=3.11"

[manifest]
members = ["core", "web"]

[[package]]
name = "core"
version = "0.1.0"
source = {{ editable = "apps/core" }}
dependencies = [{{ name = "pure" }}]

[[package]]
name = "web"
version = "0.3.0"
source = {{ editable = "apps/web" }}
dependencies = [{{ name = "core" }}]

[[package]]
name = "pure"
version = "1.5"
source = {{ registry = "wheels" }}
wheels = [{{ path = "wheels/{WHEEL}", hash = "sha256:{SHA}" }}]
"""


def _workspace(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "wheels").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[tool.uv.workspace]\nmembers = ["apps/*"]\n')
    for name, deps in (("core", '["pure"]'), ("web", '["core"]')):
        member = root / "apps" / name
        member.mkdir(parents=True)
        (member / "pyproject.toml").write_text(
            f'[project]\nname = "{name}"\nversion = "1.0"\ndependencies = {deps}\n'
        )
    (root / "uv.lock").write_text(UV_LOCK)
    return root


def _nix_lock(cwd: Path) -> dict:
    result = pyrelease("nix-lock", "--python-version", "3.12.1", "--target", GNU, cwd=cwd)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads((cwd / "pyrelease.lock.json").read_text())


def test_at_the_root_paths_are_relative_to_the_root(tmp_path: Path) -> None:
    root = _workspace(tmp_path)
    lock = _nix_lock(root)
    assert lock["source"] == "uv.lock"
    target = lock["targets"][GNU]
    assert target["directories"] == [
        {"name": "core", "version": "0.1.0", "path": "apps/core"},
        {"name": "web", "version": "0.3.0", "path": "apps/web"},
    ]
    (entry,) = target["files"]
    assert entry["path"] == f"wheels/{WHEEL}" and "url" not in entry


def test_in_a_member_the_root_lock_is_used_and_paths_are_relative_to_the_member(
    tmp_path: Path,
) -> None:
    root = _workspace(tmp_path)
    web = root / "apps" / "web"
    lock = _nix_lock(web)
    assert not (root / "pyrelease.lock.json").exists()  # written where it ran, nowhere else
    assert lock["source"] == "../../uv.lock"
    target = lock["targets"][GNU]
    assert target["directories"] == [
        {"name": "core", "version": "0.1.0", "path": "../core"},
        {"name": "web", "version": "0.3.0", "path": "."},
    ]
    (entry,) = target["files"]
    # mkRelease { src = the root; subdir = "apps/web"; } finds it at src/apps/web/PATH.
    assert entry["path"] == f"../../wheels/{WHEEL}"
    assert (web / entry["path"]).resolve() == (root / "wheels" / WHEEL).resolve()
    assert lock["source_sha256"] == _nix_lock(root)["source_sha256"]
