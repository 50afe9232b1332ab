"""The standard-library pruning is remembered per set of roots: a rebuild whose
modules import the same things reuses it, and one that imports something new
keeps what that needs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_dist

pytestmark = pytest.mark.e2e

SVC = """
def start(ctx):
    return True
"""
TOOL = (
    '[tool.pyrelease]\nmod = "svc.app:start"\n[tool.pyrelease.releases.svc]\nsteps = ["assemble"]\n'
)


def build(project: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def pruned(project: Path) -> set[str]:
    listing = project / "_build" / "prod" / "rel" / "svc" / "releases" / "1.0.0"
    return set((listing / "stdlib-pruned.txt").read_text().split())


def has_module(project: Path, rel: str) -> bool:
    runtime = next((project / "_build" / "prod" / "rel" / "svc").glob("runtime-*"))
    return any((runtime / "lib").glob(f"python3.*/{rel}*"))


def test_a_new_import_after_a_cached_pruning_is_kept(tmp_path: Path) -> None:
    project = make_dist(tmp_path, "svc", "svc", SVC, "[]", TOOL)
    app = project / "src" / "svc" / "app.py"
    build(project)
    assert {"xml.dom.minidom", "graphlib"} <= pruned(project)
    app.write_text(app.read_text() + "\nVALUE = 1\n")  # the same imports: the cached pruning
    build(project)
    assert {"xml.dom.minidom", "graphlib"} <= pruned(project)

    app.write_text("import graphlib\nfrom xml.dom import minidom\n" + app.read_text())
    build(project)
    assert not {"xml.dom.minidom", "graphlib"} & pruned(project)
    assert has_module(project, "xml/dom/minidom.py") and has_module(project, "graphlib.py")

    app.write_text(app.read_text().replace("import graphlib\n", ""))  # and back: pruned again
    build(project)
    assert "graphlib" in pruned(project) and not has_module(project, "graphlib.py")
    assert "xml.dom.minidom" not in pruned(project)
