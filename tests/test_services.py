"""Real servers as command applications, installed from the package index when the test
runs: FastAPI on uvicorn with two workers, Django on gunicorn with two sync workers
(migrated with ``bin/web exec django-admin migrate`` first), and gunicorn's USR2
re-exec. Each: start, HTTP answer, pid, SIGTERM exit status, daemon/stop, and no
process of the server left.

The wheels are downloaded once into pytest's cache directory (``.pytest_cache``,
git-ignored), so reruns need no network; the lock naming them is written at test time.
Without a reachable index and no cached wheels the tests are skipped."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import free_port, http_get, make_dist, node, pyrelease, run, wait_http, write_pylock

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc").is_dir(), reason="/proc")]

REQUIREMENTS = ["fastapi", "uvicorn", "gunicorn", "django>=5.2,<6"]
API = """
import os
from fastapi import FastAPI

app = FastAPI()

@app.get("/")
def root():
    return {"via": "fastapi", "pid": os.getpid(), "ppid": os.getppid()}
"""
SETTINGS = """
import os
SECRET_KEY = "test-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.auth"]
MIDDLEWARE = []
ROOT_URLCONF = "svcsite.urls"
USE_TZ = True
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3",
                         "NAME": os.path.join(os.environ["RELEASE_DATA"], "db.sqlite3")}}
"""
URLS = """
import os
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.urls import path

def index(request):
    return HttpResponse(f"django users={User.objects.count()} ppid={os.getppid()}")

urlpatterns = [path("", index)]
"""
WSGI = """
import os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "svcsite.settings")
from django.core.wsgi import get_wsgi_application
application = get_wsgi_application()
"""
TOOL = """
[tool.pyrelease]
default_release = "api"

[tool.pyrelease.releases.api]
command = ["uvicorn", "svcsite.api:app", "--host", "127.0.0.1", "--port", "${PORT}",
           "--workers", "2"]
ready = "http://127.0.0.1:${PORT}/"

[tool.pyrelease.releases.web]
command = ["gunicorn", "svcsite.wsgi", "--workers", "2", "--bind", "127.0.0.1:${PORT}",
           "--pid", "${RELEASE_DATA}/gunicorn.pid"]
ready = "tcp://127.0.0.1:${PORT}"
"""


def wheels(cache: Path) -> list[Path]:
    """The servers and their requirements as wheels, downloaded once into ``cache``."""
    if not list(cache.glob("gunicorn-*.whl")) or not list(cache.glob("django-*.whl")):
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--dest", str(cache), *REQUIREMENTS],
            capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        if result.returncode != 0:
            reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
            pytest.skip(f"the servers could not be downloaded from the package index: {reason}")
    return sorted(cache.glob("*.whl"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    found = wheels(Path(request.config.cache.mkdir("pyrelease-services-wheels")))
    deps = json.dumps(REQUIREMENTS)
    project = make_dist(tmp_path_factory.mktemp("services"), "svcsite", "svcsite", "", deps, TOOL)
    for name, text in (("api", API), ("settings", SETTINGS), ("urls", URLS), ("wsgi", WSGI)):
        (project / "src" / "svcsite" / f"{name}.py").write_text(text)
    (project / "rel").mkdir()
    env_sh = (Path(__file__).parents[1] / "src/pyrelease/templates/env.sh.j2").read_text()
    (project / "rel" / "env.sh.j2").write_text(
        env_sh + "\nexport DJANGO_SETTINGS_MODULE=svcsite.settings\n"
    )
    (project / "wheels").mkdir()
    for wheel in found:
        shutil.copyfile(wheel, project / "wheels" / wheel.name)
    write_pylock(project, sorted((project / "wheels").glob("*.whl")))
    return project


def build(project: Path, name: str) -> Path:
    result = pyrelease("build", name, cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / name / "bin" / name


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(entry.name))
    return sorted(found)


def cmdline(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def wait_until(what: str, test, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while True:
        value = test()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} within {timeout}s"
        time.sleep(0.1)


def server_processes(node_pid: int) -> list[int]:
    """The node's command child and everything under it."""
    found, todo = [], children(node_pid)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children(pid)
    return found


def test_uvicorn_with_two_workers(project: Path, tmp_path: Path) -> None:
    script = build(project, "api")
    root = script.parent.parent
    port = free_port()
    env = {"PORT": str(port), "RELEASE_DATA": str(tmp_path / "data")}
    with node(script, env) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=120)
        assert status == 200 and json.loads(body)["via"] == "fastapi"
        n.wait_for("application command:uvicorn started (permanent)")
        master = next(p for p in children(n.proc.pid) if "bin/uvicorn" in " ".join(cmdline(p)))

        def spawned() -> list[int] | None:
            found = [p for p in children(master) if "spawn_main" in " ".join(cmdline(p))]
            return found if len(found) == 2 else None

        workers = wait_until("two uvicorn workers", spawned, 120)
        for pid in workers:  # the release's runtime, not the host's Python
            assert Path(f"/proc/{pid}/exe").resolve().is_relative_to(root.resolve())
        assert json.loads(http_get(f"http://127.0.0.1:{port}/")[1])["ppid"] == master
        everything = server_processes(n.proc.pid)
        assert run(script, "pid", env=env).stdout.strip() == str(n.proc.pid)
        n.signal(signal.SIGTERM)
        assert n.wait(90) == 0, n.output()
    assert not [p for p in everything if alive(p)]
    daemon = run(script, "daemon", env=env, timeout=180)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
        node_pid = int(run(script, "pid", env=env).stdout)
        everything = server_processes(node_pid)
    finally:
        assert run(script, "stop", env=env).returncode == 0
    wait_until("no uvicorn process left", lambda: not [p for p in everything if alive(p)])


def test_django_on_gunicorn_migrated_through_exec_and_reexecuted_on_usr2(
    project: Path, tmp_path: Path
) -> None:
    script = build(project, "web")
    data = tmp_path / "data"
    port = free_port()
    env = {"PORT": str(port), "RELEASE_DATA": str(data)}
    migrate = run(script, "exec", "django-admin", "migrate", "--noinput", env=env, timeout=180)
    assert migrate.returncode == 0, migrate.stdout + migrate.stderr
    assert "Applying auth.0001_initial... OK" in migrate.stdout
    assert (data / "db.sqlite3").is_file()
    with node(script, env) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=120)
        assert (status, body.split(" ")[:2]) == (200, ["django", "users=0"]), body
        master = int(wait_until("gunicorn's pid file", lambda: _read(data / "gunicorn.pid")))
        assert wait_until("two sync workers", lambda: len(children(master)) == 2)
        n.signal(signal.SIGUSR2)  # forwarded: gunicorn re-executes itself

        def new_master() -> int | None:  # a child of the old master with workers of its own
            return next((p for p in children(master) if len(children(p)) == 2), None)

        new = wait_until("a new master with two workers", new_master, 120)
        assert "bin/gunicorn" in " ".join(cmdline(new))

        def served_by_new() -> bool:
            return http_get(f"http://127.0.0.1:{port}/")[1].endswith(f"ppid={new}")

        wait_until("an answer from the re-executed gunicorn", served_by_new, 120)
        everything = server_processes(n.proc.pid)
        assert run(script, "pid", env=env).stdout.strip() == str(n.proc.pid)
        n.signal(signal.SIGTERM)
        assert n.wait(90) == 0, n.output()
    wait_until("no gunicorn process left", lambda: not [p for p in everything if alive(p)])
    daemon = run(script, "daemon", env=env, timeout=180)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
        everything = server_processes(int(run(script, "pid", env=env).stdout))
    finally:
        assert run(script, "stop", env=env).returncode == 0
    wait_until("no gunicorn process left", lambda: not [p for p in everything if alive(p)])


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None
