"""Helpers for end-to-end tests: build real releases and run their bin/ scripts."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "examples" / "demo"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "packages"


def pyrelease(
    *args: str, cwd: Path, env: dict[str, str] | None = None, input: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real ``pyrelease`` CLI."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "pyrelease", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        input=input,
        timeout=600,
    )


def run(
    script: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run a release's bin script with a clean-ish environment."""
    return subprocess.run(
        [str(script), *args],
        env={**base_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def base_env() -> dict[str, str]:
    """The environment a user's shell would give: no RELEASE_* leaking from tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("RELEASE_")}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> tuple[int, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"node exited with {proc.returncode} before answering")
        try:
            return http_get(url, timeout=1)
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"{url} did not answer within {timeout}s")


class Node:
    """A node started with ``bin/NAME start`` in its own process group."""

    def __init__(self, script: Path, env: dict[str, str] | None = None, *args: str) -> None:
        self.log_path = script.parent.parent / f"test-node-{os.getpid()}-{time.time_ns()}.log"
        self.log = open(self.log_path, "w+b")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [str(script), "start", *args],
            env={**base_env(), **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.proc.poll() is not None and text not in self.output():
                raise AssertionError(f"node exited ({self.proc.returncode}):\n{self.output()}")
            time.sleep(0.02)
        raise AssertionError(f"{text!r} not seen within {timeout}s:\n{self.output()}")

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30) -> int:
        return self.proc.wait(timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.log.close()
        self.log_path.unlink(missing_ok=True)


@contextlib.contextmanager
def node(script: Path, env: dict[str, str] | None = None, *args: str) -> Iterator[Node]:
    n = Node(script, env, *args)
    try:
        yield n
    finally:
        n.stop()


def copy_project(src: Path, dest: Path) -> Path:
    shutil.copytree(
        src, dest, ignore=shutil.ignore_patterns("_build", "__pycache__", "*.egg-info", "build")
    )
    return dest


def ensure_demo_lock(project: Path) -> None:
    """The demo's lock is committed (it names only local directories): copy it if missing."""
    if not (project / "pylock.toml").exists():
        shutil.copyfile(DEMO / "pylock.toml", project / "pylock.toml")


def build_demo(base: Path) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """Copy the example project under ``base``, lock it and build its default release."""
    project = copy_project(DEMO, base / "demo")
    ensure_demo_lock(project)
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project, result


def read_json(path: Path) -> dict:
    return json.loads(path.read_text())


FIXTURE_NAMES = (
    "nspkg-a", "nspkg-b", "pkgdata", "entrypoints", "pthpkg", "cext", "selfmeta",
)  # fmt: skip


def fixture_project(name: str, dest: Path) -> Path:
    """Copy a fixture project and put the shared in-tree build backend beside it."""
    project = copy_project(FIXTURES / name, dest / name)
    shutil.copyfile(FIXTURES / "_backend.py", project / "_backend.py")
    return project


def fixture_wheels(dest: Path) -> list[Path]:
    """Build every fixture distribution (except fixtureapp) into wheels under ``dest``."""
    wheels = dest / "wheels"
    for name in FIXTURE_NAMES:
        src = fixture_project(name, dest / "src")
        subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "-w", str(wheels), str(src)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    return sorted(wheels.glob("*.whl"))


def write_pylock(project: Path, wheels: list[Path]) -> Path:
    """A PEP 751 lock naming local wheels by path and sha256, and the project itself."""
    import hashlib
    import os.path

    lines = ['lock-version = "1.0"', 'created-by = "pyrelease-tests"', ""]
    lines += ["[[packages]]", f'name = "{project.name}"', 'directory = { path = "." }', ""]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        rel = os.path.relpath(wheel, project)
        lines += [
            "[[packages]]", f'name = "{name.replace("_", "-")}"', f'version = "{version}"',
            "[[packages.wheels]]", f'name = "{wheel.name}"', f'path = "{rel}"',
            f'hashes = {{ sha256 = "{digest}" }}', "",
        ]  # fmt: skip
    path = project / "pylock.toml"
    path.write_text("\n".join(lines))
    return path


# The pyproject.toml of a generated project built by the fixtures' in-tree backend
# (shared with benchmarks/scaling.py).
PYPROJECT = (FIXTURES / "pyproject.toml.in").read_text()


def make_dist(
    base: Path, name: str, module: str, code: str, deps: str, extra: str, version: str = "1.0.0"
) -> Path:
    """A tiny project using the fixtures' in-tree build backend (builds offline)."""
    project = base / name
    (project / "src" / module).mkdir(parents=True)
    (project / "src" / module / "__init__.py").write_text("")
    (project / "src" / module / "app.py").write_text(code)
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(name=name, deps=deps, extra=extra, version=version)
    )
    (project / "_backend.py").write_text((FIXTURES / "_backend.py").read_text())
    return project


def overlay_tool(project: Path, name: str, text: str) -> None:
    """An executable ``tools/NAME`` shipped by the release (``rel/overlays``)."""
    tools = project / "rel" / "overlays" / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    (tools / name).write_text(text)
    (tools / name).chmod(0o755)


def build_local(project: Path, name: str) -> Path:
    """Lock the :func:`make_dist` project ``name`` (no dependencies) on itself, build its
    release and return its ``bin/NAME``; the test fails if the build does."""
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "t"\n\n[[packages]]\n'
        f'name = "{name}"\ndirectory = {{ path = "." }}\n'
    )
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / name / "bin" / name


def alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie does not count)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_gone(pid: int, timeout: float = 30) -> None:
    """Wait until process ``pid`` has ended; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        assert time.monotonic() < deadline, f"process {pid} is still running"
        time.sleep(0.05)


def wait_file(path: Path, timeout: float = 60) -> dict:
    """The JSON in ``path`` once it has been written whole; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _live_processes_with(field: int, value: int) -> list[int]:
    """Live processes whose ``/proc/PID/stat`` field ``field`` (after the name) is ``value``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[field]) == value:
            found.append(int(entry.name))
    return found


def children(pid: int) -> list[int]:
    """The live child processes of ``pid`` (zombies not counted)."""
    return _live_processes_with(1, pid)


def group_members(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (zombies not counted)."""
    return _live_processes_with(2, pgid)


def make_cert(folder: Path, name: str) -> tuple[Path, Path]:
    """A self-signed certificate for ``name`` and 127.0.0.1 (and its key), made by openssl."""
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


needs_openssl = pytest.mark.skipif(
    subprocess.run(["sh", "-c", "command -v openssl"], capture_output=True).returncode != 0,
    reason="the openssl command is needed to make a test certificate",
)
