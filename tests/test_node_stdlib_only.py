"""The build/runtime line: the node package imports only the standard library
and imports cleanly on every supported CPython with nothing else on the path."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

NODE = Path(__file__).parents[1] / "src" / "pyrelease" / "node"
PYENV = Path("/root/.pyenv/versions")


def pythons() -> list[str]:
    found = [sys.executable]
    for version in ("3.11", "3.12", "3.13"):
        match = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
        if match:
            found.append(str(match[-1]))
    return found


# Standard-library modules renamed between supported versions (tried in turn).
RENAMED = {"_sha2", "_sha256"}  # SHA-256: _sha256 up to 3.11, _sha2 from 3.12


def test_node_imports_only_stdlib_and_itself() -> None:
    offenders = []
    for path in sorted(NODE.glob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if name.startswith("pyrelease.node") or top in sys.stdlib_module_names | RENAMED:
                    continue
                if top == "pyrelease" and name == "pyrelease":
                    continue
                offenders.append(f"{path.name}: {name}")
    assert offenders == []


@pytest.mark.parametrize("python", pythons())
def test_node_imports_in_isolation(python: str, tmp_path: Path) -> None:
    pkg = tmp_path / "pyrelease"
    shutil.copytree(NODE, pkg / "node", ignore=shutil.ignore_patterns("__pycache__", "*.toml"))
    (pkg / "__init__.py").write_text("")
    modules = sorted(p.stem for p in NODE.glob("*.py") if p.stem != "__main__")
    code = (
        "import sys, importlib\n"
        "sys.path[:] = [sys.argv[1]] + [p for p in sys.path if 'site-packages' not in p]\n"
        f"for m in {modules!r}: importlib.import_module('pyrelease.node.' + m)\n"
        "ok = set(sys.stdlib_module_names) | {'pyrelease', '__main__'}\n"
        "print([m for m in sys.modules if m.split('.')[0] not in ok])"
    )
    out = subprocess.run(
        [python, "-I", "-S", "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
