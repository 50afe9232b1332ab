"""`pyrelease nix-lock`: per-target choice of the exact file of every locked distribution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import REPO, pyrelease
from pyrelease.nixlock import targets

SHA = {c: c * 64 for c in "abcdefgh"}
URL = "https://files.example.invalid/packages"
GNU_X86 = "fast-2.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
GNU_ARM = "fast-2.0-cp311-cp311-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"

UV_LOCK = f"""
version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "1.0"
source = {{ editable = "." }}
dependencies = [{{ name = "fast" }}, {{ name = "pure" }}, {{ name = "local-dep" }}]

[[package]]
name = "fast"
version = "2.0"
source = {{ registry = "{URL}/simple" }}
sdist = {{ url = "{URL}/fast-2.0.tar.gz", hash = "sha256:{SHA["a"]}" }}
wheels = [
  {{ url = "{URL}/{GNU_X86}", hash = "sha256:{SHA["b"]}" }},
  {{ url = "{URL}/{GNU_ARM}", hash = "sha256:{SHA["c"]}" }},
  {{ url = "{URL}/fast-2.0-cp311-cp311-musllinux_1_2_x86_64.whl", hash = "sha256:{SHA["d"]}" }},
  {{ url = "{URL}/fast-2.0-cp311-cp311-macosx_11_0_arm64.whl", hash = "sha256:{SHA["e"]}" }},
  {{ url = "{URL}/fast-2.0-cp312-cp312-macosx_10_9_x86_64.whl", hash = "sha256:{SHA["f"]}" }},
  {{ url = "{URL}/fast-2.0-cp311-cp311-manylinux_2_41_x86_64.whl", hash = "sha256:{SHA["g"]}" }},
]

[[package]]
name = "pure"
version = "1.5"
source = {{ registry = "{URL}/simple" }}
wheels = [{{ url = "{URL}/pure-1.5-py3-none-any.whl", hash = "sha256:{SHA["h"]}" }}]

[[package]]
name = "linux-only"
version = "1.0"
source = {{ registry = "{URL}/simple" }}
wheels = [{{ url = "{URL}/linux_only-1.0-py3-none-any.whl", hash = "sha256:{SHA["h"]}" }}]

[[package]]
name = "local-dep"
version = "0.1"
source = {{ directory = "packages/local-dep" }}
"""


def _project(tmp_path: Path, text: str = UV_LOCK) -> Path:
    project = tmp_path / "app"
    (project / "packages" / "local-dep").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[project]\nname = "app"\nversion = "1.0"\n')
    (project / "uv.lock").write_text(text)
    return project


def _files(lock: dict, triple: str) -> dict[str, str]:
    return {f["name"]: f["filename"] for f in lock["targets"][triple]["files"]}


def test_every_target_gets_the_file_its_platform_and_python_accept(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = pyrelease("nix-lock", "--python-version", "3.11.9", cwd=project)
    assert result.returncode == 0, result.stderr
    lock = json.loads((project / "pyrelease.lock.json").read_text())
    assert lock["python"] == "3.11" and lock["source"] == "uv.lock"
    assert sorted(lock["targets"]) == sorted(targets.TARGETS)
    gnu = "x86_64-unknown-linux-gnu"
    # manylinux_2_41 needs a newer glibc than the pinned nixpkgs has: the 2_17 wheel it is.
    assert _files(lock, gnu)["fast"] == GNU_X86
    assert _files(lock, "aarch64-unknown-linux-gnu")["fast"] == GNU_ARM
    assert _files(lock, "x86_64-unknown-linux-musl")["fast"].endswith("musllinux_1_2_x86_64.whl")
    assert _files(lock, "aarch64-apple-darwin")["fast"].endswith("macosx_11_0_arm64.whl")
    # No musl wheel for aarch64 and only a cp312 one for Intel macs: the sdist is built.
    assert _files(lock, "aarch64-unknown-linux-musl")["fast"] == "fast-2.0.tar.gz"
    assert _files(lock, "x86_64-apple-darwin")["fast"] == "fast-2.0.tar.gz"
    entry = next(f for f in lock["targets"][gnu]["files"] if f["name"] == "pure")
    assert entry == {
        "name": "pure", "version": "1.5", "kind": "wheel", "filename": "pure-1.5-py3-none-any.whl",
        "url": f"{URL}/pure-1.5-py3-none-any.whl", "sha256": SHA["h"],
    }  # fmt: skip
    assert lock["targets"][gnu]["system"] == "x86_64-linux"
    assert lock["targets"][gnu]["directories"] == [  # built from the sources, not fetched
        {"name": "app", "version": "1.0", "path": "."},
        {"name": "local-dep", "version": "0.1", "path": "packages/local-dep"},
    ]


def test_the_python_version_decides_the_abi(tmp_path: Path) -> None:
    project = _project(tmp_path)
    result = pyrelease(
        "nix-lock", "--python-version", "3.12.1", "--target", "x86_64-apple-darwin", cwd=project
    )
    assert result.returncode == 0, result.stderr
    lock = json.loads((project / "pyrelease.lock.json").read_text())
    assert list(lock["targets"]) == ["x86_64-apple-darwin"]
    assert _files(lock, "x86_64-apple-darwin")["fast"] == (
        "fast-2.0-cp312-cp312-macosx_10_9_x86_64.whl"
    )


def test_markers_are_evaluated_for_each_target(tmp_path: Path) -> None:
    text = UV_LOCK.replace(
        'name = "linux-only"\nversion = "1.0"',
        'name = "linux-only"\nversion = "1.0"\nresolution-markers = []',
    )
    project = _project(tmp_path, text)
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n'
        '[[packages]]\nname = "linux-only"\nversion = "1.0"\nmarker = "sys_platform == \'linux\'"\n'
        "[[packages.wheels]]\n"
        f'name = "linux_only-1.0-py3-none-any.whl"\nurl = "{URL}/linux_only-1.0-py3-none-any.whl"\n'
        f'hashes = {{ sha256 = "{SHA["h"]}" }}\n'
    )
    result = pyrelease(
        "nix-lock", "--python-version", "3.11.9",
        "--target", "aarch64-unknown-linux-gnu", "--target", "aarch64-apple-darwin", cwd=project,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lock = json.loads((project / "pyrelease.lock.json").read_text())
    assert lock["source"] == "pylock.toml"  # preferred over uv.lock
    assert _files(lock, "aarch64-unknown-linux-gnu") == {
        "linux-only": "linux_only-1.0-py3-none-any.whl"
    }
    assert _files(lock, "aarch64-apple-darwin") == {}


def test_a_wheel_kept_in_the_repository_is_named_by_path(tmp_path: Path) -> None:
    project = _project(tmp_path)
    (project / "uv.lock").unlink()
    (project / "wheels").mkdir()
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "test"\n\n'
        '[[packages]]\nname = "pure"\nversion = "1.5"\n[[packages.wheels]]\n'
        'name = "pure-1.5-py3-none-any.whl"\npath = "wheels/pure-1.5-py3-none-any.whl"\n'
        f'hashes = {{ sha256 = "{SHA["h"]}" }}\n'
    )
    result = pyrelease("nix-lock", "--target", "x86_64-unknown-linux-gnu", cwd=project)
    assert result.returncode == 0, result.stderr
    (entry,) = json.loads((project / "pyrelease.lock.json").read_text())["targets"][
        "x86_64-unknown-linux-gnu"
    ]["files"]
    assert entry["path"] == "wheels/pure-1.5-py3-none-any.whl" and "url" not in entry


def test_no_compatible_file_is_refused_naming_distribution_and_target(tmp_path: Path) -> None:
    text = UV_LOCK.replace(
        f'sdist = {{ url = "{URL}/fast-2.0.tar.gz", hash = "sha256:{SHA["a"]}" }}\n', ""
    )
    project = _project(tmp_path, text)
    (project / "pyrelease.lock.json").write_text("previous\n")
    result = pyrelease("nix-lock", "--python-version", "3.11.9", cwd=project)
    assert result.returncode == 1
    assert "fast 2.0" in result.stderr and "aarch64-unknown-linux-musl" in result.stderr
    assert "--target" in result.stderr and "Traceback" not in result.stderr
    assert (project / "pyrelease.lock.json").read_text() == "previous\n"  # left as it was
    # Locking only for the targets that have wheels works.
    ok = pyrelease("nix-lock", "--python-version", "3.11.9", "--target",
                   "x86_64-unknown-linux-gnu", cwd=project)  # fmt: skip
    assert ok.returncode == 0, ok.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "x86_64-pc-windows-msvc"], "unknown target triple 'x86_64-pc-windows-msvc'"),
        (["--python-version", "three"], "'three' is not a Python version"),
    ],
)
def test_bad_options_get_one_clear_sentence(tmp_path: Path, args: list[str], message: str) -> None:
    project = _project(tmp_path)
    result = pyrelease("nix-lock", *args, cwd=project)
    assert result.returncode == 1
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (project / "pyrelease.lock.json").exists()


def test_a_project_without_a_lock_is_told_how_to_lock(tmp_path: Path) -> None:
    result = pyrelease("nix-lock", cwd=tmp_path)
    assert result.returncode == 1
    assert "no lock file" in result.stderr and "uv lock" in result.stderr


def test_platform_rules() -> None:
    gnu = targets.get("aarch64-unknown-linux-gnu").platforms()
    assert "manylinux_2_40_aarch64" in gnu and "manylinux2014_aarch64" in gnu
    assert "manylinux_2_41_aarch64" not in gnu and "manylinux1_aarch64" not in gnu
    assert "manylinux1_x86_64" in targets.get("x86_64-unknown-linux-gnu").platforms()
    assert targets.get("x86_64-unknown-linux-musl").platforms()[0] == "musllinux_1_2_x86_64"
    mac = targets.get("aarch64-apple-darwin").platforms()
    assert "macosx_11_0_arm64" in mac and "macosx_11_0_universal2" in mac
    assert (
        targets.marker_environment(targets.get("aarch64-apple-darwin"), "3.12.1")["sys_platform"]
        == "darwin"
    )


def test_the_examples_lock_is_what_nix_lock_writes(tmp_path: Path) -> None:
    example = REPO / "examples" / "demo"
    out = tmp_path / "pyrelease.lock.json"
    result = pyrelease("nix-lock", "--python-version", "3.11", "-o", str(out), cwd=example)
    assert result.returncode == 0, result.stderr
    assert out.read_text() == (example / "pyrelease.lock.json").read_text()
