"""The bundled standard library is pruned to what the release can import:
what a real project's test suite makes that project import is all still there,
the build says what it removed, and the keep/drop lists work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from helpers import DEMO, copy_project, free_port, node, pyrelease, run, wait_http

pytestmark = pytest.mark.e2e

RECORDER = Path(__file__).parent / "fixtures" / "importrecorder"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    project = copy_project(DEMO, tmp_path_factory.mktemp("prune") / "demo")
    # A third-party dependency from the package index (Jinja2 and MarkupSafe, with its
    # C extension), locked now, beside the demo's local packages.
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text().replace(
        'dependencies = ["demo-speedups"]', 'dependencies = ["demo-speedups", "jinja2>=3.1"]', 1
    )
    assert "jinja2" in text
    text = text.replace(
        'applications = { demo-extra = "permanent" }',
        'applications = { demo-extra = "permanent" }\n'
        'prune_stdlib = { keep = ["wave"], drop = ["pydoc"] }',
        1,
    )
    pyproject.write_text(text)
    (project / "pylock.toml").unlink()
    lock = subprocess.run(
        [sys.executable, "-m", "pip", "lock", "--quiet", ".", "./packages/demo-speedups",
         "./packages/demo-extra", "-o", "pylock.toml"],
        cwd=project, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert lock.returncode == 0, lock.stderr
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "demo", result.stdout


def runtime_has(rel: Path, modules: list[str]) -> dict[str, bool]:
    """Whether the release's own Python finds each module (nothing else on its path)."""
    (python,) = rel.glob("runtime-*/bin/python3.*")
    code = (
        "import importlib.util, json, sys\n"
        "def has(m):\n"
        "    try:\n"
        "        return importlib.util.find_spec(m) is not None\n"
        "    except ImportError:\n"
        "        return False\n"
        "print(json.dumps({m: has(m) for m in json.loads(sys.argv[1])}))"
    )
    out = subprocess.run([str(python), "-I", "-S", "-c", code, json.dumps(modules)],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return json.loads(out.stdout)


def test_the_build_reports_what_was_pruned(built: tuple[Path, str]) -> None:
    rel, stdout = built
    assert "* pruned the standard library: kept " in stdout
    listing = (rel / "releases" / "0.1.0" / "stdlib-pruned.txt").read_text().split()
    assert listing == sorted(listing) and len(listing) > 50
    assert "pydoc" in listing and "wave" not in listing  # drop and keep
    assert "email.mime.audio" in listing  # the demo never reaches it
    found = runtime_has(rel, ["pydoc", "wave", "email.mime.audio", "json", "encodings.idna"])
    assert found == {"pydoc": False, "wave": True, "email.mime.audio": False, "json": True,
                     "encodings.idna": True}  # fmt: skip


def test_every_stdlib_module_jinja2s_test_suite_imports_is_there(
    built: tuple[Path, str], tmp_path: Path
) -> None:
    # Jinja2 and MarkupSafe are in the release; run Jinja2's own test suite (from
    # its sdist, the version the release holds) on the host, record what their
    # code imports, and look for each standard-library module in the release.
    rel, _ = built
    (jinja_lib,) = rel.glob("lib/jinja2-*")
    version = jinja_lib.name.split("-", 1)[1]
    got = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
         f"jinja2=={version}", "-d", str(tmp_path), "--quiet"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert got.returncode == 0, got.stderr
    with tarfile.open(next(tmp_path.glob("jinja2-*.tar.gz"))) as sdist:
        sdist.extractall(tmp_path, filter="data")
    src = tmp_path / f"jinja2-{version}"
    out = tmp_path / "imports.json"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(RECORDER), str(src / "src")]),
        "RECORD_PACKAGES": "jinja2,markupsafe",
        "RECORD_OUT": str(out),
    }
    tests = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "record_imports", "-p", "no:cacheprovider",
         "tests"],
        cwd=src, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.is_file(), tests.stdout[-3000:] + tests.stderr[-3000:]
    recorded = json.loads(out.read_text())
    stdlib = [m for m in recorded if m.split(".")[0] in sys.stdlib_module_names]
    assert {"re", "typing"} <= set(stdlib)  # the recorder saw Jinja2's imports
    found = runtime_has(rel, stdlib)
    assert [m for m, ok in found.items() if not ok] == []


def test_the_pruned_release_serves_and_answers(built: tuple[Path, str]) -> None:
    rel, _ = built
    script = rel / "bin" / "demo"
    port = free_port()
    with node(script, {"PORT": str(port)}) as n:
        wait_http(f"http://127.0.0.1:{port}/", n.proc)
        ok = run(script, "rpc", "import wave, pprint; pprint.pprint(wave.__name__)")
        assert ok.stdout == "'wave'\n", ok.stderr
        gone = run(script, "rpc", "import pydoc")
        assert "ModuleNotFoundError: No module named 'pydoc'" in gone.stdout + gone.stderr


def test_an_unknown_module_in_keep_is_one_sentence(built: tuple[Path, str]) -> None:
    rel, _ = built
    project = rel.parents[3]
    pyproject = project / "pyproject.toml"
    before = pyproject.read_text()
    try:
        pyproject.write_text(before.replace('keep = ["wave"]', 'keep = ["wave", "no_such_mod"]'))
        result = pyrelease("build", "--overwrite", cwd=project)
    finally:
        pyproject.write_text(before)
    assert result.returncode != 0
    assert "prune_stdlib.keep names no_such_mod, which the bundled standard library" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr + result.stdout
    assert (rel / "bin" / "demo").is_file()  # the previous release is untouched
    assert not list(rel.parent.glob(".demo.building-*"))  # nothing half-written
