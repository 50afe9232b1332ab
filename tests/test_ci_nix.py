"""``pyrelease ci build --nix true`` (the action's ``nix: true``) building the
repository's real flake output ``.#release-demo``, offline: ``nix-args`` points
nixpkgs at the stub (tests/nix/stub-nixpkgs) and the build at a throwaway store,
as tests/test_nix.py builds it."""

from __future__ import annotations

import hashlib
import json
import os
import tarfile
from pathlib import Path

import pytest

from ci_helpers import annotations, ci_build, read_outputs, step_env
from nixhelpers import NIX_CONFIG, SKIP_REASON, STUB, copy_tracked, have_nix, stub_usable
from pyrelease.assemble.runtime import host_triple
from pyrelease.ci.run import chroot_store

TRIPLE = host_triple()
NAME = f"demo-0.1.0-{TRIPLE}"


@pytest.mark.e2e
@pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON)
def test_nix_true_builds_the_flakes_release(tmp_path: Path) -> None:
    clone = copy_tracked(tmp_path / "pyrelease")
    store = tmp_path / "store"
    env = step_env(tmp_path / "step", clone, NIX_CONFIG=NIX_CONFIG)
    nix_args = f"--offline --store {store} --override-input nixpkgs path:{STUB}"
    result = ci_build(
        "demo", "--nix", "true", "--nix-args", nix_args, "--upload-to", "artifact",
        cwd=clone, env=env, timeout=1800,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr[-5000:]
    assert "nix build .#release-demo" in result.stdout and nix_args in result.stdout

    # The result lives in the throwaway store, not in /nix/store.
    out_path = os.readlink(clone / "_build" / "nix" / "release-demo")
    assert out_path.startswith("/nix/store/")
    built = store / out_path.lstrip("/")
    assert (built / "bin" / "demo").is_file()

    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    artifact = Path(out["artifact"])
    assert artifact == clone / "_build" / "prod" / f"{NAME}.tar.xz"
    assert out["sha256"] == hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert (out["name"], out["version"], out["target"]) == ("demo", "0.1.0", TRIPLE)
    with tarfile.open(artifact) as tar:
        names = set(tar.getnames())
        tar_dirs = {m.name: m.isdir() for m in tar.getmembers()}
        info = json.loads(tar.extractfile("releases/0.1.0/build_info.json").read())
    # The tarball is the release nix built, file for file.
    on_disk = {str(p.relative_to(built)) for p in built.rglob("*") if not p.is_dir()}
    assert on_disk == {n for n in names if not tar_dirs.get(n)} and "bin/demo" in names
    assert info["triple"] == TRIPLE


def test_nix_args_without_nix_is_refused(tmp_path: Path) -> None:
    env = step_env(tmp_path / "step", tmp_path)
    result = ci_build("demo", "--nix-args", "--offline", cwd=tmp_path, env=env)
    assert result.returncode == 1
    [found] = annotations(result.stdout)
    assert found["message"] == "nix-args is given but nix is false"
    assert "Traceback" not in result.stderr


def test_a_bad_quote_in_nix_args_is_a_usage_error(tmp_path: Path) -> None:
    env = step_env(tmp_path / "step", tmp_path)
    result = ci_build("demo", "--nix", "true", "--nix-args", "--option 'x", cwd=tmp_path, env=env)
    assert result.returncode == 2
    assert "--nix-args" in result.stderr and "quotation" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), None),
        (("--offline",), None),
        (("--store", "/home/u/nix"), Path("/home/u/nix")),
        (("--store=/home/u/nix",), Path("/home/u/nix")),
        (("--store", "local?root=/srv/nix"), Path("/srv/nix")),
        (("--store", "daemon"), None),
        (("--store", "ssh-ng://builder"), None),
    ],
)
def test_where_a_store_keeps_its_paths(args: tuple[str, ...], expected: Path | None) -> None:
    assert chroot_store(args) == expected


@pytest.mark.e2e
@pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON)
def test_a_result_not_on_disk_is_one_sentence(tmp_path: Path) -> None:
    """A store whose paths are elsewhere than DIR/nix/store (here ``real=``): the
    result cannot be read, and the message says where it went and what works."""
    clone = copy_tracked(tmp_path / "pyrelease")
    s = tmp_path / "store"
    store = f"local?real={s}/physical&state={s}/state&log={s}/log"
    env = step_env(tmp_path / "step", clone, NIX_CONFIG=NIX_CONFIG)
    nix_args = f"--offline --store {store} --override-input nixpkgs path:{STUB}"
    result = ci_build(
        "demo", "--nix", "true", "--nix-args", nix_args, cwd=clone, env=env, timeout=1800
    )
    assert result.returncode == 1, result.stdout + result.stderr[-5000:]
    [found] = annotations(result.stdout)
    assert found["message"].startswith("nix built .#release-demo as /nix/store/")
    assert found["message"].endswith("which is not on this machine's disk")
    assert "--store DIR" in result.stderr and "Traceback" not in result.stderr
    assert read_outputs(Path(env["GITHUB_OUTPUT"])) == {}
