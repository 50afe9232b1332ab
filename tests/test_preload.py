"""Embedded boot does no harm: the preload set is what the applications can reach, never
test modules, pytest plugins, ``__main__`` modules or vendored scripts; boot logs one
summary line; ``strip`` keeps a test package that run-time code imports.

The fixture library (tests/fixtures/packages/preloadcases) is shaped like the ones
that made boots noisy: every module that must not run at boot prints a
``PRINTED-AT-IMPORT`` line when imported."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import fixture_project, node, pyrelease, run, write_pylock

pytestmark = pytest.mark.e2e

SUMMARY = re.compile(r"^\[node\] preloaded (\d+) modules in \d+ ms; (\d+) skipped$", re.M)
RELEASES = """
[tool.pyrelease.releases.preloadapp]
include_executables_for = ["unix"]

[tool.pyrelease.releases.tuned]
include_executables_for = ["unix"]
preload = { include = ["fixture_preload.extra"], exclude = ["fixture_preload.heavy"] }
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("preload")
    src = fixture_project("preloadcases", base / "src")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
         "--no-build-isolation", "-w", str(base / "wheels"), str(src)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    project = fixture_project("preloadapp", base)
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + 'default_release = "preloadapp"\n' + RELEASES)
    write_pylock(project, sorted((base / "wheels").glob("*.whl")))
    return project


def build(project: Path, name: str) -> Path:
    result = pyrelease("build", name, "--overwrite", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / name / "bin" / name


@pytest.fixture(scope="module")
def script(project: Path) -> Path:
    return build(project, "preloadapp")


def boot(script: Path, tmp_path: Path, **env: str) -> tuple[dict, str]:
    """Start the node, wait for the app's report, stop it; return (report, node output)."""
    report = tmp_path / f"report-{time.time_ns()}.json"
    with node(script, {"PRELOADAPP_REPORT": str(report), **env}) as n:
        deadline = time.monotonic() + 60
        while not report.exists():
            assert time.monotonic() < deadline, n.output()
            assert n.proc.poll() is None, n.output()
            time.sleep(0.02)
        n.signal(signal.SIGTERM)
        assert n.wait(30) == 0, n.output()
        output = n.output()
    return json.loads(report.read_text()), output


def test_embedded_boot_runs_no_test_plugin_main_or_vendored_module(
    script: Path, tmp_path: Path
) -> None:
    data, output = boot(script, tmp_path)
    assert "PRINTED-AT-IMPORT" not in output
    assert "preloading" not in output and "Traceback" not in output
    summaries = SUMMARY.findall(output)
    assert len(summaries) == 1, output
    preloaded, skipped = map(int, summaries[0])
    assert preloaded >= 4 and skipped >= 4, output
    assert "preload skipped" not in output  # details only when asked for
    seen = data["preloaded"]
    assert seen["fixture_preload.core"] and seen["fixture_preload.heavy"], seen
    for name in (
        "fixture_preload.pytest_plugin",
        "fixture_preload.optional",
        "fixture_preload._vendor.setup_script",
        "fixture_preload.extra",
    ):
        assert seen[name] is False, name
    assert data["answer"] == "core uses the test package"


def test_details_flag_lists_each_skipped_module_with_its_reason(
    script: Path, tmp_path: Path
) -> None:
    _, output = boot(script, tmp_path, RELEASE_PRELOAD_DETAILS="1")
    assert "PRINTED-AT-IMPORT" not in output
    assert len(SUMMARY.findall(output)) == 1
    details = dict(re.findall(r"^\[node\] preload skipped (\S+): (.*)$", output, re.M))
    assert details["fixture_preload.pytest_plugin"] == "a pytest plugin"
    assert "fixture_preload.__main__" not in details  # never a preload candidate at all
    assert details["fixture_preload._vendor.setup_script"] == (
        "imports setuptools, a development tool"
    )
    assert details["fixture_preload.optional"] == (
        "needs fixture_missing_dependency, which the release does not have"
    )
    # Only an import can tell: counted and detailed, never a failure line of its own.
    assert details["fixture_preload.needs_settings"] == (
        "import failed: RuntimeError: settings are not configured"
    )
    assert int(SUMMARY.findall(output)[0][1]) == len(details)


def test_a_bad_details_flag_is_one_clear_error(script: Path) -> None:
    result = run(script, "start", env={"RELEASE_PRELOAD_DETAILS": "loud"})
    assert result.returncode == 1
    assert result.stderr.strip() == "ERROR: RELEASE_PRELOAD_DETAILS must be 1 or 0, got 'loud'"


def test_interactive_mode_preloads_nothing(script: Path, tmp_path: Path) -> None:
    data, output = boot(script, tmp_path, RELEASE_MODE="interactive")
    assert not SUMMARY.search(output)
    assert not any(data["preloaded"].values())


def test_strip_keeps_a_test_package_that_code_imports_and_drops_the_rest(script: Path) -> None:
    lib = next((script.parent.parent / "lib").glob("fixture_preloadcases-*"))
    pkg = lib / "fixture_preload"
    assert (pkg / "test" / "__init__.pyc").is_file()
    assert (pkg / "test" / "signals.pyc").is_file()
    assert not (pkg / "tests").exists()  # nobody outside it imports it
    result = run(script, "eval", "import fixture_preload.test.signals as s; print(s.VALUE)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "the test package"
    start_json = next((script.parent.parent / "releases").glob("*/start.json"))
    manifest = json.loads(start_json.read_text())
    assert manifest["preload"][0] == "preloadapp.app"
    assert "fixture_preload.tests.test_core" not in manifest["preload"]


def test_strip_keep_tests_ships_every_test_folder_but_never_preloads_it(
    project: Path, tmp_path: Path
) -> None:
    text = (project / "pyproject.toml").read_text()
    try:
        (project / "pyproject.toml").write_text(
            text.replace(
                "[tool.pyrelease.releases.tuned]\n",
                '[tool.pyrelease.releases.tuned]\nstrip = { keep = ["tests"] }\n',
            )
        )
        tuned = build(project, "tuned")
    finally:
        (project / "pyproject.toml").write_text(text)
    pkg = next((tuned.parent.parent / "lib").glob("fixture_preloadcases-*")) / "fixture_preload"
    assert (pkg / "tests" / "test_core.pyc").is_file()
    _, output = boot(tuned, tmp_path)
    assert "PRINTED-AT-IMPORT" not in output


def test_preload_include_and_exclude_patterns(project: Path, tmp_path: Path) -> None:
    tuned = build(project, "tuned")
    data, output = boot(tuned, tmp_path, RELEASE_PRELOAD_DETAILS="1")
    assert data["preloaded"]["fixture_preload.extra"] is True
    assert data["preloaded"]["fixture_preload.heavy"] is False
    assert "preload skipped fixture_preload.heavy: excluded by preload.exclude" in output
    assert "PRINTED-AT-IMPORT" not in output


def test_the_preload_list_is_the_same_from_the_import_cache_and_from_scratch(
    project: Path, script: Path
) -> None:
    start_json = next((script.parent.parent / "releases").glob("*/start.json"))
    before = start_json.read_bytes()
    imports_cache = project / "_build" / "prod" / "lib-cache" / "imports"
    assert list(imports_cache.glob("*.json"))
    shutil.rmtree(imports_cache)  # --force rebuilds; the missing cache makes it parse again
    result = pyrelease("build", "preloadapp", "--overwrite", "--force", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preload: " in result.stdout + result.stderr
    assert list(imports_cache.glob("*.json"))
    assert start_json.read_bytes() == before
