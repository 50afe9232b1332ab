"""Safety rules of the assembler: containment and build-aside-then-swap."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyrelease.assemble.fsutil import contained, make_staging, swap_into_place


@pytest.mark.parametrize("bad", ["../x", "a/../../x", "/etc/passwd"])
def test_contained_refuses_escapes(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        contained(tmp_path, bad)


def test_contained_accepts_inside(tmp_path: Path) -> None:
    assert contained(tmp_path, "a/b/../c") == tmp_path / "a" / "c"


def test_swap_replaces_whole_tree(tmp_path: Path) -> None:
    final = tmp_path / "rel"
    final.mkdir()
    (final / "stale").write_text("old")
    staging = make_staging(final)
    (staging / "new").write_text("new")
    swap_into_place(staging, final)
    assert sorted(p.name for p in final.iterdir()) == ["new"]
    assert [p.name for p in tmp_path.iterdir()] == ["rel"]
