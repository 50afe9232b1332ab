"""Reading pylock.toml and uv.lock: the right wheel for the target, markers, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrelease.buildenv import target_tags
from pyrelease.errors import BuildError
from pyrelease.lockfile import read_lock, without
from pyrelease.sources import find_lock

ENV = {
    "python_version": "3.11", "python_full_version": "3.11.7", "sys_platform": "linux",
    "platform_machine": "x86_64", "os_name": "posix", "implementation_name": "cpython",
    "platform_system": "Linux", "platform_python_implementation": "CPython",
    "implementation_version": "3.11.7", "platform_release": "", "platform_version": "",
}  # fmt: skip
TAGS = target_tags("3.11")
SHA = "a" * 64

PYLOCK = f"""
lock-version = "1.0"
created-by = "test"

[[packages]]
name = "app"
directory = {{ path = "." }}

[[packages]]
name = "fast"
version = "1.0"
[[packages.wheels]]
name = "fast-1.0-cp312-cp312-manylinux_2_17_x86_64.whl"
url = "https://example.invalid/fast-1.0-cp312.whl"
hashes = {{ sha256 = "{"b" * 64}" }}
[[packages.wheels]]
name = "fast-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
url = "https://example.invalid/fast-1.0-cp311.whl"
hashes = {{ sha256 = "{SHA}" }}
[[packages.wheels]]
name = "fast-1.0-py3-none-any.whl"
path = "wheels/fast-1.0-py3-none-any.whl"
hashes = {{ sha256 = "{"c" * 64}" }}

[[packages]]
name = "winonly"
version = "2.0"
marker = "sys_platform == 'win32'"
[[packages.wheels]]
name = "winonly-2.0-py3-none-any.whl"
url = "https://example.invalid/winonly.whl"
hashes = {{ sha256 = "{SHA}" }}

[[packages]]
name = "pure"
version = "3.0"
[[packages.wheels]]
name = "pure-3.0-py3-none-any.whl"
path = "wheels/pure-3.0-py3-none-any.whl"
hashes = {{ sha256 = "{SHA}" }}
"""


def test_pylock_picks_the_best_wheel_and_evaluates_markers(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text(PYLOCK)
    assert find_lock(tmp_path) == tmp_path / "pylock.toml"
    arts = {a.name: a for a in read_lock(tmp_path / "pylock.toml", TAGS, ENV)}
    assert sorted(arts) == ["app", "fast", "pure"]  # winonly's marker is false here
    assert arts["fast"].location.endswith("fast-1.0-cp311.whl")  # cp311 beats py3-none-any
    assert arts["fast"].sha256 == SHA
    assert arts["app"].kind == "directory" and arts["app"].location == str(tmp_path.resolve())
    assert arts["pure"].location == (tmp_path / "wheels" / "pure-3.0-py3-none-any.whl").as_uri()
    assert [a.name for a in without(arts.values(), "APP")] == ["fast", "pure"]


def test_pylock_without_a_usable_wheel_says_so(tmp_path: Path) -> None:
    text = PYLOCK.split('[[packages]]\nname = "fast"')[0] + (
        '[[packages]]\nname = "only312"\nversion = "1"\n[[packages.wheels]]\n'
        'name = "only312-1-cp312-cp312-manylinux_2_17_x86_64.whl"\n'
        f'url = "https://example.invalid/x.whl"\nhashes = {{ sha256 = "{SHA}" }}\n'
    )
    (tmp_path / "pylock.toml").write_text(text)
    with pytest.raises(BuildError, match="no wheel of only312 1 for this target"):
        read_lock(tmp_path / "pylock.toml", TAGS, ENV)


def test_uv_lock(tmp_path: Path) -> None:
    (tmp_path / "uv.lock").write_text(f"""
version = 1
requires-python = ">=3.11"

[[package]]
name = "app"
version = "0.1.0"
source = {{ editable = "." }}
dependencies = [{{ name = "pure" }}]

[[package]]
name = "pure"
version = "3.0"
source = {{ registry = "https://example.invalid/simple" }}
sdist = {{ url = "https://example.invalid/pure-3.0.tar.gz", hash = "sha256:{"d" * 64}" }}
wheels = [
    {{ url = "https://example.invalid/pure-3.0-py3-none-any.whl", hash = "sha256:{SHA}" }},
]
""")
    assert find_lock(tmp_path) == tmp_path / "uv.lock"
    arts = {a.name: a for a in read_lock(tmp_path / "uv.lock", TAGS, ENV)}
    assert arts["pure"].kind == "wheel" and arts["pure"].sha256 == SHA
    assert arts["app"].kind == "directory"


def _uv_package(name: str, version: str, deps: str = "", extra: str = "") -> str:
    wheel = f"https://example.invalid/{name}-{version}-py3-none-any.whl"
    return f"""
[[package]]
name = "{name}"
version = "{version}"
source = {{ registry = "https://example.invalid/simple" }}
dependencies = [{deps}]
wheels = [{{ url = "{wheel}", hash = "sha256:{SHA}" }}]
{extra}
"""


def test_uv_lock_installs_what_the_target_needs_by_the_edges_markers(tmp_path: Path) -> None:
    # uv.lock is universal: a Windows-only package without a Linux wheel, and one
    # package at two versions for two Python versions, must not break a Linux build.
    (tmp_path / "uv.lock").write_text(
        """
version = 1
requires-python = ">=3.11"

[manifest]
members = ["api", "jobs", "tools"]

[[package]]
name = "api"
version = "1.0"
source = { editable = "apps/api" }
dependencies = [
    { name = "shared" },
    { name = "winonly", marker = "sys_platform == 'win32'" },
    { name = "forked", version = "1.0", marker = "python_full_version < '3.12'" },
    { name = "forked", version = "2.0", marker = "python_full_version >= '3.12'" },
    { name = "withextra", extra = ["fast"] },
]

[[package]]
name = "jobs"
version = "1.0"
source = { workspace = "apps/jobs" }

[[package]]
name = "tools"
version = "1.0"
source = { virtual = "apps/tools" }

[[package]]
name = "shared"
version = "1.0"
source = { editable = "libs/shared" }

[[package]]
name = "winonly"
version = "1.0"
source = { registry = "https://example.invalid/simple" }
wheels = [{ url = "https://example.invalid/winonly-1.0-cp311-cp311-win_amd64.whl", hash = "" }]
"""
        + _uv_package("forked", "1.0")
        + _uv_package("forked", "2.0")
        + _uv_package(
            "withextra",
            "1.0",
            extra='[package.optional-dependencies]\nfast = [{ name = "speedup" }]',
        )
        + _uv_package("speedup", "1.0")
        + _uv_package("unused", "1.0")
    )
    arts = read_lock(tmp_path / "uv.lock", TAGS, ENV)
    assert {a.name: a.kind for a in arts}["jobs"] == "directory"
    assert {a.name: a.location for a in arts}["jobs"] == str(tmp_path / "apps" / "jobs")
    found = sorted((a.name, a.version) for a in arts)
    assert found == [
        ("api", "1.0"), ("forked", "1.0"), ("jobs", "1.0"), ("shared", "1.0"),
        ("speedup", "1.0"), ("withextra", "1.0"),
    ]  # fmt: skip


def test_invalid_toml_is_one_sentence(tmp_path: Path) -> None:
    (tmp_path / "pylock.toml").write_text("lock-version = \n")
    with pytest.raises(BuildError, match="is not valid TOML"):
        read_lock(tmp_path / "pylock.toml", TAGS, ENV)
