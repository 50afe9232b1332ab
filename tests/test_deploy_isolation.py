"""release-deploy runs with only its own package and its few dependencies: it
imports nothing of the assembler, and loads the S3/GitHub stores only when used."""

from __future__ import annotations

import ast
import shutil
import site
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "pyrelease"
DEPLOY = SRC / "deploy"
ALLOWED_THIRD_PARTY = {"click", "requests", "packaging"}


def test_deploy_imports_only_itself_the_stdlib_and_few_dependencies() -> None:
    offenders = []
    for path in sorted(DEPLOY.rglob("*.py")):
        if path.parent.name == "stores" and path.stem in ("s3", "github"):
            continue  # the other stores bring their own dependencies, imported lazily
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if name.startswith("pyrelease.deploy") or name == "pyrelease":
                    continue
                if top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY:
                    continue
                offenders.append(f"{path.relative_to(SRC)}: {name}")
    assert offenders == []


CHECK = """
import runpy, sys
sys.path[:0] = [{pkg!r}, *{deps!r}]
import pyrelease
assert pyrelease.__file__.startswith({pkg!r}), pyrelease.__file__
import pyrelease.deploy.cli, pyrelease.deploy.pull, pyrelease.deploy.push
import pyrelease.deploy.service, pyrelease.deploy.verify
from pyrelease.deploy.stores import open_store
open_store("file:///srv/store", {{}})
loaded = sorted(m for m in sys.modules if m.startswith("pyrelease"))
print(" ".join(loaded))
sys.argv = ["release-deploy", "--help"]
runpy.run_module("pyrelease.deploy", run_name="__main__")
"""


def test_release_deploy_runs_with_only_the_deploy_package(tmp_path: Path) -> None:
    pkg = tmp_path / "only-deploy"
    shutil.copytree(DEPLOY, pkg / "pyrelease" / "deploy")
    shutil.copyfile(SRC / "__init__.py", pkg / "pyrelease" / "__init__.py")
    deps = [p for p in site.getsitepackages() if Path(p).is_dir()]
    # -S: no site-packages .pth files, so the editable install of the whole
    # package is invisible; only the copy and the dependencies are importable.
    result = subprocess.run(
        [sys.executable, "-S", "-c", CHECK.format(pkg=str(pkg), deps=deps)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.splitlines()[0].split()
    assert all(m == "pyrelease" or m.startswith("pyrelease.deploy") for m in loaded), loaded
    assert "pyrelease.deploy.stores.s3" not in loaded
    assert "pyrelease.deploy.stores.github" not in loaded
    assert "pyrelease.deploy.stores.http" not in loaded  # a folder store needs no requests
    assert "Usage: release-deploy" in result.stdout


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / "release-deploy"
    assert script.is_file(), "release-deploy is not installed: run ./scripts/setup again"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("release-deploy, version")
