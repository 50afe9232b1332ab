"""The boot cache: JSON boot files parsed at build time, runtime.py compiled by the build.

The node may only take what the build cached when the file is still what the
build wrote; anything else (an edit, a foreign or broken cache) reads the file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyrelease.assemble.bootcache import FILE, compile_boot_code, write_boot_cache
from pyrelease.node import appconfig, bootcache, configload

CACHE_TAG = sys.implementation.cache_tag
SETTINGS = {"runtime_config": True}
RUNTIME = """\
import os
from pyrelease.node.appconfig import config

def port():
    return int(os.environ.get("BOOTCACHE_PORT", "4000"))

config("svc", port=port(), mode="cached")
"""


@pytest.fixture(autouse=True)
def fresh_node_cache() -> Iterator[None]:
    """Each test starts as a new node process does: nothing read yet."""
    bootcache._entries.clear()
    bootcache._used.clear()
    yield
    bootcache._entries.clear()
    bootcache._used.clear()


def vsn_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "releases" / "1.0.0"
    folder.mkdir(parents=True)
    config = {"svc": {"greeting": "Hello", "ratio": 0.1, "tags": ["a", "b"], "big": 2**70}}
    (folder / "sys.config").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    (folder / "boot.json").write_text('{"runtime_config": true, "config_providers": []}\n')
    return folder


def test_a_cached_json_file_reads_as_json_and_each_read_is_a_fresh_copy(tmp_path: Path) -> None:
    folder = vsn_dir(tmp_path)
    write_boot_cache(folder)
    bootcache.use(str(folder))
    path = str(folder / "sys.config")
    first = bootcache.load_json(path)
    assert first == json.loads((folder / "sys.config").read_bytes())
    assert bootcache._entries  # the value came from the cache
    first["svc"]["tags"].append("mutated")
    assert bootcache.load_json(path)["svc"]["tags"] == ["a", "b"]


def test_a_json_file_edited_after_the_build_is_read_as_it_is_now(tmp_path: Path) -> None:
    folder = vsn_dir(tmp_path)
    write_boot_cache(folder)
    (folder / "sys.config").write_text('{"svc": {"greeting": "Edited"}}')
    assert configload.boot_settings(str(folder)) == {
        "runtime_config": True,
        "config_providers": [],
    }
    assert bootcache.load_json(str(folder / "sys.config")) == {"svc": {"greeting": "Edited"}}
    (folder / "sys.config").write_text('{"svc": ')
    with pytest.raises(ValueError, match="line 1 column 9"):  # json's own words
        bootcache.load_json(str(folder / "sys.config"))


@pytest.mark.parametrize("content", [b"", b"garbage", b"\xe9\x00\x00\x00\x00", b"N"])
def test_a_broken_cache_only_means_reading_the_files(tmp_path: Path, content: bytes) -> None:
    folder = vsn_dir(tmp_path)
    (folder / FILE).write_bytes(content)
    settings = configload.boot_settings(str(folder))
    assert settings["runtime_config"] is True
    assert bootcache._entries == {}


def test_the_cache_file_depends_only_on_the_files(tmp_path: Path) -> None:
    # marshal marks interned strings and objects referenced twice; which strings a
    # process interned depends on what it ran before. The cache must not.
    folder = vsn_dir(tmp_path)
    (folder / "start.json").write_text(
        '{"a": "\u00e9", "b": "x", "greeting": "Hello", "c": [1, 1]}\n', encoding="utf-8"
    )
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "for word in sys.argv[2:]:\n"
        "    sys.intern(word)\n"
        "from pyrelease.assemble.bootcache import write_boot_cache\n"
        "write_boot_cache(Path(sys.argv[1]))\n"
    )
    outputs = []
    for extra in ([], ["Hello", "greeting", "\u00e9", "svc"]):
        subprocess.run([sys.executable, "-c", script, str(folder), *extra], check=True)
        outputs.append((folder / FILE).read_bytes())
    assert outputs[0] == outputs[1]


def test_runtime_py_compiled_by_the_build_is_used_until_it_is_edited(tmp_path: Path) -> None:
    folder = vsn_dir(tmp_path)
    runtime = folder / "runtime.py"
    runtime.write_text(RUNTIME)
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG)
    assert (folder / "__pycache__" / f"runtime.{CACHE_TAG}.pyc").is_file()
    code = bootcache.compiled(str(runtime))
    assert code is not None
    # Names the file where it is now (tracebacks, error lines), nested code too.
    assert code.co_filename == str(runtime)
    assert {c.co_filename for c in code.co_consts if hasattr(c, "co_filename")} == {str(runtime)}
    values = appconfig.evaluate_file(str(runtime), env="prod", code=code)
    assert values == {"svc": {"port": 4000, "mode": "cached"}}

    runtime.write_text(RUNTIME.replace('mode="cached"', 'mode="edited"'))
    assert bootcache.compiled(str(runtime)) is None
    config = configload.compute(str(folder), str(folder / "sys.config"), "prod", SETTINGS)
    assert config["svc"]["mode"] == "edited"


def test_a_pyc_of_another_interpreter_or_kind_is_not_used(tmp_path: Path) -> None:
    folder = vsn_dir(tmp_path)
    runtime = folder / "runtime.py"
    runtime.write_text(RUNTIME)
    assert bootcache.compiled(str(runtime)) is None  # none built
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG)
    pyc = folder / "__pycache__" / f"runtime.{CACHE_TAG}.pyc"
    good = pyc.read_bytes()
    for bad in (
        b"\x00\x00" + good[2:],  # another magic number
        good[:4] + b"\x00\x00\x00\x00" + good[8:],  # timestamp-based
        good[:16] + b"\x00garbage",  # not marshal data
        good[:16] + bytes([0xE9]) + b"\x00" * 4,  # marshal, but not code
        good[:10],  # truncated
    ):
        pyc.write_bytes(bad)
        assert bootcache.compiled(str(runtime)) is None
    pyc.write_bytes(good)
    assert bootcache.compiled(str(runtime)) is not None


def test_a_runtime_py_that_does_not_compile_gets_no_pyc_and_its_error_at_boot(
    tmp_path: Path,
) -> None:
    folder = vsn_dir(tmp_path)
    (folder / "runtime.py").write_text("config(\n")
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG)
    assert not (folder / "__pycache__" / f"runtime.{CACHE_TAG}.pyc").exists()
    with pytest.raises(configload.BootConfigError, match=r"config/runtime.py.*SyntaxError"):
        configload.compute(str(folder), str(folder / "sys.config"), "prod", SETTINGS)


def test_the_compiled_runtime_py_is_kept_in_the_build_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    outputs = []
    for name in ("one", "two"):
        folder = vsn_dir(tmp_path / name)
        (folder / "runtime.py").write_text(RUNTIME)
        compile_boot_code(folder, Path(sys.executable), CACHE_TAG, cache)
        outputs.append((folder / "__pycache__" / f"runtime.{CACHE_TAG}.pyc").read_bytes())
    assert outputs[0] == outputs[1]
    assert len(list(cache.glob("*.pyc"))) == 1


def test_a_cache_that_cannot_be_written_does_not_fail_the_build(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    folder = vsn_dir(tmp_path)
    (folder / "runtime.py").write_text(RUNTIME)
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG, blocked / "cache")
    assert bootcache.compiled(str(folder / "runtime.py")) is not None


SCRIPT = """\
#!/bin/sh
'''exec' "${0%/*}/python" "$0" "$@"
' '''
import sys

def main():
    return 3

if __name__ == "__main__":
    sys.exit(main())
"""


def test_console_scripts_are_compiled_with_runtime_py_and_kept_in_the_cache(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    folder = vsn_dir(tmp_path / "one")
    (folder / "runtime.py").write_text(RUNTIME)
    (folder / "bin").mkdir()
    (folder / "bin" / "python").write_text('#!/bin/sh\nexec python3 "$@"\n')
    (folder / "bin" / "tool").write_text(SCRIPT)
    (folder / "bin" / "tool-3.1").write_text(SCRIPT.replace("3", "31"))
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG, cache)
    pycache = folder / "bin" / "__pycache__"
    assert sorted(p.name for p in pycache.iterdir()) == [
        f"tool-3.1.{CACHE_TAG}.pyc",
        f"tool.{CACHE_TAG}.pyc",
    ]  # not the shell launcher; a dotted name keeps its dot
    tool = folder / "bin" / "tool"
    code = bootcache.compiled(str(tool))
    assert code is not None and code.co_filename == str(tool)
    namespace = {"__name__": "not_main"}
    exec(code, namespace)
    assert namespace["main"]() == 3 and namespace["main"].__code__.co_filename == str(tool)
    tool.write_text(SCRIPT.replace("return 3", "return 4"))
    assert bootcache.compiled(str(tool)) is None  # edited: the caller compiles it

    # An unchanged rebuild copies every .pyc from the cache: no compile worker starts
    # (the interpreter given does not exist).
    again = vsn_dir(tmp_path / "two")
    shutil.copytree(folder / "bin", again / "bin", ignore=shutil.ignore_patterns("__pycache__"))
    (again / "bin" / "tool").write_text(SCRIPT)
    (again / "runtime.py").write_text(RUNTIME)
    compile_boot_code(again, tmp_path / "no-such-python", CACHE_TAG, cache)
    for rel in (
        f"__pycache__/runtime.{CACHE_TAG}.pyc",
        f"bin/__pycache__/tool.{CACHE_TAG}.pyc",
        f"bin/__pycache__/tool-3.1.{CACHE_TAG}.pyc",
    ):
        assert (again / rel).read_bytes() != b""
    assert bootcache.compiled(str(again / "bin" / "tool")) is not None
    assert len(list(cache.glob("*.pyc"))) == 3


def test_two_scripts_that_would_share_a_pyc_get_none(tmp_path: Path) -> None:
    folder = vsn_dir(tmp_path)
    (folder / "bin").mkdir()
    (folder / "bin" / "tool").write_text(SCRIPT)
    (folder / "bin" / "tool.py").write_text(SCRIPT.replace("3", "5"))
    compile_boot_code(folder, Path(sys.executable), CACHE_TAG)
    assert not (folder / "bin" / "__pycache__").exists()
    assert bootcache.compiled(str(folder / "bin" / "tool")) is None
