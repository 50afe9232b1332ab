"""A real Django project, installed from the package index when the test runs, boots
quietly in embedded mode: no failed preloads, one summary line, the site answers, and
``django.test`` (which Django's own code imports) survives ``strip``.

The wheels are downloaded once into pytest's cache directory (``.pytest_cache``,
git-ignored), so reruns need no network; the lock naming them is written at test
time. Without a reachable index and no cached wheels the tests are skipped. The project
is tests/fixtures/packages/djsite (its start callable serves Django with wsgiref)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import (
    fixture_project,
    free_port,
    http_get,
    node,
    pyrelease,
    run,
    wait_http,
    write_pylock,
)

pytestmark = pytest.mark.e2e

DJANGO = "django>=5.2,<6"  # as in tests/fixtures/packages/djsite/pyproject.toml
SUMMARY = re.compile(r"^\[node\] preloaded (\d+) modules in \d+ ms; (\d+) skipped$", re.M)


def django_wheels(cache: Path) -> list[Path]:
    """Django and its requirements as wheels, downloaded once into ``cache``."""
    if not list(cache.glob("django-*.whl")):
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--dest", str(cache), DJANGO],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"Django could not be downloaded from the package index: {reason}")
    return sorted(cache.glob("*.whl"))


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    wheels = django_wheels(Path(request.config.cache.mkdir("pyrelease-django-wheels")))
    project = fixture_project("djsite", tmp_path_factory.mktemp("django"))
    (project / "wheels").mkdir()
    for wheel in wheels:
        shutil.copyfile(wheel, project / "wheels" / wheel.name)
    write_pylock(project, sorted((project / "wheels").glob("*.whl")))
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "djsite" / "bin" / "djsite"


@pytest.mark.parametrize("mode", ["embedded", "interactive"])
def test_django_boots_quietly_and_serves(script: Path, mode: str) -> None:
    port = free_port()
    with node(script, {"DJSITE_PORT": str(port), "RELEASE_MODE": mode}) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=120)
        assert status == 200, body
        assert re.fullmatch(r"django 5\.\d+(\.\d+)? says hello", body), body
        assert http_get(f"http://127.0.0.1:{port}/missing")[0] == 404
        output = n.output()
    assert "preloading" not in output and "failed" not in output, output
    assert "Traceback" not in output, output
    summaries = SUMMARY.findall(output)
    if mode == "interactive":
        assert summaries == [], output
        return
    assert len(summaries) == 1, output
    preloaded, _ = map(int, summaries[0])
    assert preloaded > 100, output  # the WSGI stack the start callable reaches


def test_django_test_package_survives_strip(script: Path) -> None:
    lib = next((script.parent.parent / "lib").glob("django-*"))
    assert (lib / "django" / "test" / "__init__.pyc").is_file()
    assert not (lib / "django" / "test" / "__init__.py").exists()  # stripped to .pyc
    code = "import django.test; print(django.test.TestCase.__name__)"
    result = run(script, "eval", code, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "TestCase"
