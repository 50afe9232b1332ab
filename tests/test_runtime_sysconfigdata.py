"""The build-time configuration of a bundled runtime follows the runtime."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pyrelease.assemble.runtime.sysconfigdata import relocate_sysconfigdata, rewrite
from pyrelease.errors import BuildError

PREFIX = "/opt/pythons/3.12.1"
MODULE = f"""\
# system configuration generated and used by the sysconfig module
build_time_vars = {{'BINDIR': '{PREFIX}/bin',
 'CC': 'gcc -pthread',
 'CONFIG_ARGS': "'--prefix={PREFIX}' '--enable-shared'",
 'INSTALL': '/usr/bin/install -c',
 'LDFLAGS': '-L{PREFIX}/lib -Wl,-rpath,{PREFIX}/lib',
 'OTHER': '{PREFIX}0/lib {PREFIX}.old',
 'SIZEOF_INT': 4,
 'exec_prefix': '{PREFIX}',
 'prefix': '{PREFIX}'}}
"""


def _load(text: str) -> dict[str, object]:
    namespace: dict[str, object] = {}
    exec(compile(text, "_sysconfigdata", "exec"), namespace)
    assert sorted(namespace) == ["__builtins__", "build_time_vars"]  # no helper left behind
    return namespace["build_time_vars"]  # type: ignore[return-value]


def test_prefix_values_follow_sys_base_prefix() -> None:
    text = rewrite(MODULE, PREFIX)
    assert text is not None and f"{PREFIX}/" not in text and f"{PREFIX}'" not in text
    here = sys.base_prefix
    assert _load(text) == {
        "BINDIR": f"{here}/bin",
        "CC": "gcc -pthread",
        "CONFIG_ARGS": f"'--prefix={here}' '--enable-shared'",
        "INSTALL": "/usr/bin/install -c",
        "LDFLAGS": f"-L{here}/lib -Wl,-rpath,{here}/lib",
        # Longer names that merely start with the prefix are other paths.
        "OTHER": f"{PREFIX}0/lib {PREFIX}.old",
        "SIZEOF_INT": 4,
        "exec_prefix": sys.base_exec_prefix,
        "prefix": here,
    }
    assert "'BINDIR': _sys.base_prefix + '/bin'," in text  # readable, one key a line


def test_the_recorded_prefix_counts_too() -> None:
    """An installation moved after its build records another prefix than it runs from."""
    text = rewrite(MODULE, "/somewhere/else")
    assert text is not None and PREFIX + "/bin" not in text


def test_nothing_to_do() -> None:
    assert rewrite("build_time_vars = {'CC': 'gcc'}\n", PREFIX) is None
    # A system prefix names the target's own directories too: left alone.
    system = "build_time_vars = {'prefix': '/usr', 'INSTALL': '/usr/bin/install -c'}\n"
    assert rewrite(system, "/usr") is None


@pytest.mark.parametrize(
    "text",
    ["build_time_vars = dict(a=1)\n", "import os\nbuild_time_vars = {}\n", "build_time_vars = {"],
)
def test_an_unexpected_module_is_an_error(text: str) -> None:
    with pytest.raises(BuildError, match="build configuration"):
        rewrite(text, PREFIX)


def test_relocate_rewrites_the_files_in_place(tmp_path: Path) -> None:
    data = tmp_path / "_sysconfigdata__linux_x86_64-linux-gnu.py"
    data.write_text(MODULE, encoding="utf-8")
    other = tmp_path / "sysconfig.py"
    other.write_text(f"# {PREFIX}\n", encoding="utf-8")
    assert relocate_sysconfigdata(tmp_path, Path(PREFIX)) == [data]
    assert PREFIX + "/" not in data.read_text(encoding="utf-8")
    assert other.read_text(encoding="utf-8") == f"# {PREFIX}\n"
