"""The newest glibc symbol version a binary needs, as recorded in build_info.json."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyrelease.assemble.runtime.elf import newest_glibc, read_elf


def objdump_glibc(path: Path) -> str | None:
    """What binutils says: the newest GLIBC_x.y among the dynamic symbols' versions."""
    out = subprocess.run(
        ["objdump", "-p", str(path)], capture_output=True, text=True, check=True
    ).stdout
    versions = {tuple(int(p) for p in v.split(".")) for v in re.findall(r"GLIBC_([\d.]+)", out)}
    return ".".join(map(str, max(versions))) if versions else None


@pytest.mark.skipif(shutil.which("objdump") is None, reason="binutils' objdump is not installed")
@pytest.mark.parametrize("path", [sys.executable, "/bin/ls", "/bin/sh"])
def test_newest_glibc_matches_binutils(path: str) -> None:
    real = Path(path).resolve()
    if read_elf(real) is None:
        pytest.skip(f"{real} is not ELF")
    assert newest_glibc([real]) == objdump_glibc(real)


def test_newest_glibc_takes_the_maximum_and_ignores_non_elf(tmp_path: Path) -> None:
    text = tmp_path / "script.sh"
    text.write_text("#!/bin/sh\n")
    assert newest_glibc([text, tmp_path / "missing"]) is None
    binaries = [Path(p).resolve() for p in (sys.executable, "/bin/ls")]
    expected = max((newest_glibc([b]) for b in binaries),
                   key=lambda v: tuple(int(p) for p in v.split(".")))  # fmt: skip
    assert newest_glibc(binaries) == expected
