"""Command applications with programs of the standard library: ``python -m http.server``
as a server, and a long-running worker module that records what it sees. The node
supervises them: readiness, signals forwarded, stop, exit statuses, no orphan when the
node is SIGKILLed. (The third-party servers are in test_services.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers import (
    alive,
    base_env,
    build_local,
    children,
    free_port,
    group_members,
    http_get,
    make_dist,
    node,
    overlay_tool,
    pyrelease,
    run,
    wait_file,
    wait_gone,
    wait_http,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc").is_dir(), reason="/proc")]

WORKER = """
import json, os, signal, sys, time

def main():
    data = os.environ["RELEASE_DATA"]
    seen = []
    def note(signum, frame):
        seen.append(signal.Signals(signum).name)
        with open(os.path.join(data, "signals.json"), "w") as f:
            json.dump(seen, f)
    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU"):
        signal.signal(getattr(signal, name), note)
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(int(os.environ.get("WRK_TERM_STATUS", "0"))))
    with open(os.path.join(data, "worker.json"), "w") as f:
        json.dump({"pid": os.getpid(), "cwd": os.getcwd(), "argv": sys.argv,
                   "notify": os.environ.get("NOTIFY_SOCKET"),
                   "pythonpath": os.environ.get("PYTHONPATH"),
                   "fds": [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                           if os.path.exists(f"/proc/self/fd/{fd}")]}, f)
    if os.environ.get("NOTIFY_SOCKET") and not os.environ.get("WRK_NO_READY"):
        import socket
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"STATUS=up\\nREADY=1", "\\0" + os.environ["NOTIFY_SOCKET"][1:])
    print("worker running", flush=True)
    if os.environ.get("WRK_EXIT"):
        sys.exit(int(os.environ["WRK_EXIT"]))
    while True:
        time.sleep(0.05)

if __name__ == "__main__":
    main()
"""


def build(base: Path, name: str, tool: str, files: dict[str, str] | None = None) -> Path:
    project = make_dist(base, name, name, "", "[]", tool)
    (project / "src" / name / "worker.py").write_text(WORKER)
    for rel, text in (files or {}).items():
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text(text)
    (project / "pylock.toml").write_text(
        f'lock-version = "1.0"\ncreated-by = "t"\n\n[[packages]]\nname = "{name}"\n'
        'directory = { path = "." }\n'
    )
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / name / "bin" / name


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = (
        "[tool.pyrelease]\n"
        'command = ["-m", "http.server", "${WEB_PORT}", "--bind", "127.0.0.1"]\n'
        'ready = "http://127.0.0.1:${WEB_PORT}/"\n'
    )
    return build(tmp_path_factory.mktemp("cmdweb"), "cmdweb", tool)


@pytest.fixture(scope="module")
def worker(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = (
        "[tool.pyrelease.releases.wrk]\n"
        'command = ["-m", "wrk.worker", "--queue", "${QUEUE:-default}"]\n'
        "ready_timeout = 20\n"
    )
    return build(tmp_path_factory.mktemp("cmdwrk"), "wrk", tool)


@pytest.fixture(scope="module")
def notifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tool = '[tool.pyrelease]\ncommand = ["-m", "ntf.worker"]\nready = "notify"\nready_timeout = 3\n'
    return build(tmp_path_factory.mktemp("cmdntf"), "ntf", tool)


def test_notify_readiness(notifier: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with node(notifier, {"RELEASE_DATA": str(data)}) as n:
        n.wait_for("ntf 1.0.0 started in", timeout=60)
        # The node waited for READY=1: without it the boot fails (below). The order of
        # the worker's output and the node's "started" line is not fixed (two pipes).
        assert "application command:ntf.worker started" in n.output()
        assert wait_file(data / "worker.json")["notify"].startswith("@pyrelease-")
        assert "while booting" not in n.output()  # its socket is made by the node first
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0
    result = run(notifier, "start", env={"RELEASE_DATA": str(data), "WRK_NO_READY": "1"})
    assert result.returncode == 1
    assert (
        "application command:ntf.worker failed: command -m ntf.worker not ready after 3s: "
        "the check notify did not pass (no READY=1 received)"
    ) in result.stdout, result.stdout


def test_http_server_command_serves_stops_and_leaves_nothing(web: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {"WEB_PORT": str(port), "RELEASE_DATA": str(tmp_path / "data")}
    with node(web, env) as n:
        status, _ = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=60)
        assert status == 200
        n.wait_for("application command:http.server started (permanent)")
        assert f"[node] started command -m http.server {port} --bind" in n.output()  # early
        pid = run(web, "pid", env=env)
        assert pid.stdout.strip() == str(n.proc.pid)
        # Boot time is a feature: what the node's boot gets by without (docs/performance.md;
        # contextlib neither, but rpc itself imports traceback, which imports it).
        unused = "('subprocess', 'queue', 'heapq')"
        code = f"import sys; print([m for m in {unused} if m in sys.modules])"
        loaded = run(web, "rpc", code, env=env)
        assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{port}/", timeout=2)
    # daemon, pid, stop
    daemon = run(web, "daemon", env=env, timeout=120)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
        assert run(web, "pid", env=env).returncode == 0
        log = web.parent.parent / "tmp" / "log" / "cmdweb.log"
        assert '"GET / HTTP/1.1" 200' in log.read_text()  # the child's output is in the log
    finally:
        assert run(web, "stop", env=env).returncode == 0
    with pytest.raises(OSError):
        http_get(f"http://127.0.0.1:{port}/", timeout=2)


def test_unset_variable_and_readiness_timeout_fail_the_boot_clearly(web: Path) -> None:
    result = run(web, "start", timeout=60)
    assert result.returncode == 1
    assert "uses ${WEB_PORT} but WEB_PORT is not set" in result.stdout, result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    with socket_taken() as port:  # http.server cannot bind: exits before it is ready
        result = run(web, "start", env={"WEB_PORT": str(port)}, timeout=60)
    assert result.returncode == 1
    assert "exited with status 1 before it was ready" in result.stdout, result.stdout


class socket_taken:
    def __enter__(self) -> int:
        import socket

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        return self.sock.getsockname()[1]

    def __exit__(self, *exc: object) -> None:
        self.sock.close()


def test_worker_gets_signals_env_and_runs_in_the_data_dir(worker: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data), "QUEUE": "mail", "NOTIFY_SOCKET": "@not-for-the-child",
           "PYTHONPATH": str(tmp_path)}  # fmt: skip
    with node(worker, env) as n:
        n.wait_for("worker running", timeout=60)
        info = wait_file(data / "worker.json")
        assert info["cwd"] == str(data) and info["argv"][1:] == ["--queue", "mail"]
        assert info["notify"] is None  # the node's own NOTIFY_SOCKET is not passed on
        assert info["pythonpath"] is None  # nor the host's PYTHON* settings
        assert os.getpgid(info["pid"]) != os.getpgid(n.proc.pid)
        for sig in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGTTIN", "SIGTTOU"):
            n.signal(getattr(signal, sig))
            deadline = time.monotonic() + 30
            while sig not in seen_signals(data):
                assert time.monotonic() < deadline, n.output()
                time.sleep(0.05)
        assert alive(n.proc.pid)
        restart = run(worker, "restart", env=env)
        assert restart.returncode == 0, restart.stderr
        deadline = time.monotonic() + 30
        while wait_file(data / "worker.json")["pid"] == info["pid"]:
            assert time.monotonic() < deadline, n.output()
            time.sleep(0.05)
        wait_gone(info["pid"])
        second = wait_file(data / "worker.json")["pid"]
        stop = run(worker, "stop", env=env)
        assert stop.returncode == 0, stop.stderr
        assert n.wait(60) == 0, n.output()
        wait_gone(second)


def test_the_command_gets_none_of_the_descriptors_the_node_inherited(
    worker: Path, tmp_path: Path
) -> None:
    """A pipe the node's caller left open (an inheritable descriptor) is not the child's:
    the command would otherwise keep it open after the node is gone."""
    data = tmp_path / "data"
    read, write = os.pipe()
    os.set_inheritable(write, True)
    pipe = f"pipe:[{os.fstat(read).st_ino}]"
    env = {**base_env(), "RELEASE_DATA": str(data)}
    proc = subprocess.Popen(
        [str(worker), "start"], env=env, pass_fds=(write,), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        os.close(write)
        info = wait_file(data / "worker.json")
        node_fds = [
            os.readlink(f"/proc/{proc.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{proc.pid}/fd")
        ]
        assert pipe in node_fds  # the node has it
        assert pipe not in info["fds"] and "/dev/null" in info["fds"]
        stop = run(worker, "stop", env=env)
        assert stop.returncode == 0, stop.stderr
        assert proc.wait(60) == 0
        wait_gone(info["pid"])
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(read)


def seen_signals(data: Path) -> list[str]:
    try:
        return json.loads((data / "signals.json").read_text())
    except (OSError, ValueError):
        return []


def test_a_runtime_config_that_changes_the_command_s_variable_is_obeyed(tmp_path: Path) -> None:
    # ${VAR} is expanded after the runtime configuration, which may set the variable.
    tool = '[tool.pyrelease]\ncommand = ["-m", "rtq.worker", "--queue", "${QUEUE:-default}"]\n'
    runtime = 'import os\nos.environ["QUEUE"] = "from-runtime-config"\n'
    script = build(tmp_path, "rtq", tool, {"config/runtime.py": runtime})
    data = tmp_path / "data"
    with node(script, {"RELEASE_DATA": str(data), "QUEUE": "from-caller"}) as n:
        n.wait_for("worker running", timeout=60)
        info = wait_file(data / "worker.json")
        assert info["argv"][1:] == ["--queue", "from-runtime-config"]
        # Not started before the boot (the runtime config might change it), and never twice.
        assert not (script.parents[1] / "releases" / "1.0.0" / "start.command").exists()
        assert "while booting" not in n.output()
        deadline = time.monotonic() + 30
        while len(children(n.proc.pid)) != 2:  # the worker and its watchdog, no other
            assert time.monotonic() < deadline, children(n.proc.pid)
            time.sleep(0.05)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(info["pid"])


def test_a_second_node_refused_at_boot_runs_nothing_of_its_command(
    worker: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    with node(worker, env) as n:
        n.wait_for("worker running", timeout=60)
        first = wait_file(data / "worker.json")["pid"]
        (data / "worker.json").unlink()
        second = run(worker, "start", env=env, timeout=60)
        assert second.returncode == 1
        assert second.stderr.startswith("ERROR: node wrk is already running or starting")
        assert "worker running" not in second.stdout and "Traceback" not in second.stderr
        assert not (data / "worker.json").exists()  # its command never ran
        assert children(n.proc.pid) and alive(first)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(first)


def test_a_boot_failing_at_the_control_channel_leaves_no_command(
    worker: Path, tmp_path: Path
) -> None:
    # The control channel cannot open (its cookie is unreadable): one line, nothing left.
    data = tmp_path / "data"
    cookie = worker.parents[1] / "releases" / "COOKIE"
    saved = cookie.read_bytes() if cookie.is_file() else None
    cookie.unlink(missing_ok=True)
    cookie.mkdir()
    try:
        result = run(worker, "start", env={"RELEASE_DATA": str(data)}, timeout=60)
    finally:
        cookie.rmdir()
        if saved is not None:
            cookie.write_bytes(saved)
            cookie.chmod(0o400)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith("ERROR: cannot read the cookie file"), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    started = data / "worker.json"
    if started.exists():  # it may have run before the node gave up: not left running
        wait_gone(json.loads(started.read_text())["pid"])


def test_a_permanent_command_ending_ends_the_node_with_its_status(
    worker: Path, tmp_path: Path
) -> None:
    result = run(worker, "start", env={"RELEASE_DATA": str(tmp_path), "WRK_EXIT": "3"}, timeout=60)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "exited with status 3" in result.stdout and "Traceback" not in result.stdout


def test_node_killed_takes_its_command_with_it(worker: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with node(worker, {"RELEASE_DATA": str(data)}) as n:
        n.wait_for("worker running", timeout=60)
        child = wait_file(data / "worker.json")["pid"]
        pgid = os.getpgid(child)
        assert len(group_members(pgid)) == 2  # the worker and its watchdog
        os.kill(n.proc.pid, signal.SIGKILL)
        n.wait(30)
        wait_gone(child, timeout=30)
        deadline = time.monotonic() + 30
        while group_members(pgid):  # the watchdog goes too
            assert time.monotonic() < deadline, group_members(pgid)
            time.sleep(0.05)


def test_heart_restarts_a_killed_node_and_its_command_binds_again(
    web: Path, tmp_path: Path
) -> None:
    """The node SIGKILLed under a daemon with heart: no orphan keeps the port, so the
    restarted node's http.server binds it again and serves."""
    port = free_port()
    env = {"WEB_PORT": str(port), "RELEASE_DATA": str(tmp_path / "data"), "RELEASE_HEART": "1"}
    daemon = run(web, "daemon", env=env, timeout=120)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        first = int(run(web, "pid", env=env).stdout)
        pgids = {os.getpgid(p) for p in child_pids(first)}
        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 90
        while True:
            assert time.monotonic() < deadline, "the heart did not bring the node back"
            pid = run(web, "pid", env=env)
            if pid.returncode == 0 and int(pid.stdout) != first:
                break
            time.sleep(0.2)
        assert not [p for g in pgids for p in group_members(g)]  # the old group is gone
        deadline = time.monotonic() + 60
        while True:
            try:
                assert http_get(f"http://127.0.0.1:{port}/")[0] == 200
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
    finally:
        assert run(web, "stop", env=env).returncode == 0


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] != "Z":
                found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ('["wrk-tol"]', "`command` runs wrk-tol, which is not a console script of the release; "
                        "did you mean `wrk-tool`?"),
        ('["-m", "wrk.wroker"]', "`command` runs -m wrk.wroker, but no distribution of the "
                                 "release has that module"),
    ],
)  # fmt: skip
def test_a_command_that_cannot_run_fails_the_build(
    tmp_path: Path, command: str, message: str
) -> None:
    scripts = '[project.scripts]\nwrk-tool = "wrk.worker:main"\n\n'
    tool = f"{scripts}[tool.pyrelease]\ncommand = {command}\n"
    project = make_dist(tmp_path, "wrk", "wrk", "", "[]", tool)
    (project / "src" / "wrk" / "worker.py").write_text(WORKER)
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "t"\n\n[[packages]]\nname = "wrk"\n'
        'directory = { path = "." }\n'
    )
    result = pyrelease("build", cwd=project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"ERROR: release wrk: {message}" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (project / "_build" / "prod" / "rel" / "wrk").exists()  # nothing half-built


def test_a_command_shipped_by_an_overlay_builds(tmp_path: Path) -> None:
    """A path inside the release may come from an overlay: checked once it is copied."""
    project = make_dist(
        tmp_path, "ovl", "ovl", "", "[]", '[tool.pyrelease]\ncommand = ["tools/run.sh"]\n'
    )
    overlay_tool(project, "run.sh", "#!/bin/sh\necho running\n")
    build_local(project, "ovl")
    assert (project / "_build" / "prod" / "rel" / "ovl" / "tools" / "run.sh").is_file()
