"""Real-world packaging features keep working inside a release: namespace
packages, package data, entry points, .pth files, C extensions, packages
reading their own metadata — built from local wheels through a PEP 751 lock."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import pytest

from helpers import fixture_project, fixture_wheels, node, pyrelease, write_pylock

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def fixtureapp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("features")
    wheels = fixture_wheels(base)
    project = fixture_project("fixtureapp", base)
    write_pylock(project, wheels)
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "not reproducible" not in result.stderr  # the lock was used
    return project / "_build" / "prod" / "rel" / "fixtureapp" / "bin" / "fixtureapp"


def start_and_report(script: Path, tmp_path: Path, mode: str) -> tuple[dict, str]:
    report, events = tmp_path / f"report-{mode}.json", tmp_path / f"events-{mode}"
    env = {"FIXTUREAPP_REPORT": str(report), "FIXTUREAPP_EVENTS": str(events),
           "RELEASE_MODE": mode}  # fmt: skip
    with node(script, env) as n:
        deadline = time.monotonic() + 30
        while not report.exists():
            assert time.monotonic() < deadline, n.output()
            assert n.proc.poll() is None, n.output()
            time.sleep(0.02)
        n.signal(signal.SIGTERM)
        assert n.wait(15) == 0, n.output()
        output = n.output()
    assert events.read_text().split() == ["stopped"]
    return json.loads(report.read_text()), output


@pytest.mark.parametrize("mode", ["embedded", "interactive"])
def test_every_packaging_feature_works_in_the_release(
    fixtureapp: Path, tmp_path: Path, mode: str
) -> None:
    data, output = start_and_report(fixtureapp, tmp_path, mode)
    assert data["errors"] == {}, data["errors"]
    assert data["namespace"] == {"a": "a from fixture-nspkg-a", "b": "b from fixture-nspkg-b"}
    assert data["pkgdata"] == "hello from package data\n"
    assert data["entry_points"] == ["hello"]
    assert data["pth_module"] == "imported through the fixture_pth.pth path line"
    assert data["pth_hook"] == "ran"
    assert data["cext_add"] == 5
    assert data["selfmeta_version"] == "0.3.1"
    assert data["isolated"] == 1
    assert data["release"]["name"] == "fixtureapp"
    assert data["preloaded"]["fixture_cext._speed"] is (mode == "embedded")
    assert "preloading" not in output  # every module of every application imported cleanly
