"""The compiler flags that keep a local package's path out of its compiled extension
(the end-to-end proofs: test_demo_release's no-build-paths test, test_reproducible and
the flake's tarball compared with a build outside Nix in test_nix)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from pyrelease.buildpaths import path_independent_env, prefix_maps


def test_the_users_flags_are_kept_and_each_directory_is_mapped(tmp_path: Path) -> None:
    project = tmp_path / "api"
    package = project / "packages" / "speedups"
    package.mkdir(parents=True)
    env = path_independent_env([project, package], {"CFLAGS": "-O2 ", "PATH": "/usr/bin"})
    assert env["PATH"] == "/usr/bin"
    flags = shlex.split(env["CFLAGS"])
    assert flags == ["-O2", f"-ffile-prefix-map={project}=.", f"-ffile-prefix-map={package}=."]
    assert shlex.split(env["CXXFLAGS"]) == flags[1:]


def test_a_symlinked_directory_is_mapped_as_given_and_resolved(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    assert set(shlex.split(" ".join(prefix_maps([tmp_path / "link"])))) == {
        f"-ffile-prefix-map={tmp_path / 'link'}=.",
        f"-ffile-prefix-map={real}=.",
    }


def test_a_path_with_spaces_stays_one_flag(tmp_path: Path) -> None:
    odd = tmp_path / "my project"
    odd.mkdir()
    assert shlex.split(path_independent_env([odd], {})["CFLAGS"]) == [f"-ffile-prefix-map={odd}=."]


def test_gcc_leaves_the_directory_out_of_the_object(tmp_path: Path) -> None:
    # The flag does what the docs say with the compiler the builds use.
    if subprocess.run(["sh", "-c", "command -v gcc"], capture_output=True).returncode:
        pytest.skip("gcc is not installed")
    src = tmp_path / "checkout" / "pkg"
    src.mkdir(parents=True)
    (src / "m.c").write_text("const char *where(void) { return __FILE__; }\n")
    objects = []
    for flags in ([], shlex.split(path_independent_env([src], {})["CFLAGS"])):
        out = tmp_path / f"m{len(objects)}.o"
        subprocess.run(["gcc", "-g", "-c", "m.c", "-o", str(out), *flags], cwd=src, check=True)
        objects.append(out.read_bytes())
    assert str(src).encode() in objects[0]  # without the map, the path is recorded
    assert str(src).encode() not in objects[1]
