"""Operating a running node through its control channel: pid, rpc, remote, stop,
restart, start_iex, readiness, and the cookie that guards all of it."""

from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from helpers import (
    base_env,
    build_demo,
    free_port,
    http_get,
    node,
    run,
    wait_http,
)
from pyrelease.node import channel

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project, _ = build_demo(tmp_path_factory.mktemp("control"))
    return project / "_build" / "prod" / "rel" / "demo" / "bin" / "demo"


@pytest.fixture
def running(script: Path):
    port = free_port()
    with node(script, {"PORT": str(port)}) as n:
        wait_http(f"http://127.0.0.1:{port}/health", n.proc)
        n.port = port
        yield n


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def test_pid_is_the_node_process(script: Path, running) -> None:
    out = run(script, "pid")
    assert (out.returncode, out.stdout) == (0, f"{running.proc.pid}\n")


def test_rpc_output_exit_status_and_errors(script: Path, running) -> None:
    code = (
        "import demo.stats as s, sys\n"
        "print('served', s.connected())\nprint('warn', file=sys.stderr)"
    )
    out = run(script, "rpc", code)
    assert out.returncode == 0
    assert out.stdout == "served 1\n" and out.stderr == "warn\n"
    boom = run(script, "rpc", "1/0")
    assert boom.returncode == 1
    assert "ZeroDivisionError: division by zero" in boom.stderr
    assert run(script, "rpc", "raise SystemExit(4)").returncode == 4
    assert run(script, "pid").returncode == 0  # the node is unharmed
    assert "ZeroDivisionError" not in running.output()  # errors went to the caller, not the log
    missing = run(script, "rpc")
    assert (missing.returncode, missing.stderr.strip()) == (
        1, "ERROR: RPC expects an expression as argument",
    )  # fmt: skip


def test_concurrent_rpc_each_caller_gets_its_own_output(script: Path, running) -> None:
    results: dict[int, str] = {}

    def call(i: int) -> None:
        code = f"import time\nfor k in range(3):\n    print('caller-{i}', k)\n    time.sleep(0.01)"
        results[i] = run(script, "rpc", code).stdout

    def noise() -> None:  # the node's own threads print to its log meanwhile
        for _ in range(20):
            http_get(f"http://127.0.0.1:{running.port}/")

    threads = [threading.Thread(target=call, args=(i,)) for i in range(12)]
    threads.append(threading.Thread(target=noise))
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i in range(12):
        assert results[i] == "".join(f"caller-{i} {k}\n" for k in range(3))
    assert "caller-" not in running.output()


def test_wrong_cookie_is_refused_and_runs_nothing(script: Path, running, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    out = run(script, "rpc", f"open({str(marker)!r}, 'w')", env={"RELEASE_COOKIE": "wrong"})
    assert out.returncode == 1
    assert "refused the connection: the cookie does not match" in out.stderr
    assert not marker.exists()


def test_cookie_file_is_private_and_never_on_a_command_line(script: Path, running) -> None:
    cookie = script.parent.parent / "releases" / "COOKIE"
    assert cookie.stat().st_mode & 0o777 == 0o400
    secret = cookie.read_text()
    assert len(secret) == 56 and secret.replace("_", "").isalnum()
    cmdline = Path(f"/proc/{running.proc.pid}/cmdline").read_bytes()
    assert secret.encode() not in cmdline
    assert secret not in running.output()
    sockets = script.parent.parent / "tmp" / "sockets"
    assert sockets.stat().st_mode & 0o777 == 0o700


def _raw_connect(script: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(str(script.parent.parent / "tmp" / "sockets" / "demo.sock"))
    sock.settimeout(5)
    return sock


def test_replayed_handshake_is_refused(script: Path, running) -> None:
    secret = (script.parent.parent / "releases" / "COOKIE").read_text()
    with _raw_connect(script) as first:
        hello = channel.recv(first)
        assert sorted(hello) == ["challenge", "hello"]  # nothing about the node before auth
        recorded = {"response": channel.mac(secret, "client", hello["challenge"]),
                    "challenge": "ab" * 32}  # fmt: skip
        channel.send(first, recorded)
        assert channel.recv(first)["ok"] is True
    with _raw_connect(script) as second:
        assert channel.recv(second)["challenge"] != hello["challenge"]
        channel.send(second, recorded)  # the same bytes again
        assert channel.recv(second) == {"error": "refused"}


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xff\xff\xff", (10).to_bytes(4, "big") + b"not json!!", b"GET / HTTP/1.1\r\n\r\n"],
)
def test_garbage_closes_only_that_connection(script: Path, running, garbage: bytes) -> None:
    with _raw_connect(script) as sock:
        channel.recv(sock)  # hello
        sock.sendall(garbage)
        try:
            leftover = sock.recv(4096)
        except (ConnectionResetError, TimeoutError):
            leftover = b""
        assert b"ok" not in leftover
    assert run(script, "pid").stdout == f"{running.proc.pid}\n"


def test_not_running_and_no_cookie_messages(script: Path) -> None:
    out = run(script, "pid")
    assert out.returncode == 1
    assert "no node demo is running (looked for " in out.stderr
    assert "demo.sock" in out.stderr
    fresh = script.parent.parent.parent / "nocookie"
    try:
        subprocess.run(["cp", "-a", str(script.parent.parent), str(fresh)], check=True)
        (fresh / "releases" / "COOKIE").unlink(missing_ok=True)
        nocookie = run(fresh / "bin" / "demo", "pid")
        assert nocookie.returncode == 1
        assert "no cookie: RELEASE_COOKIE is not set" in nocookie.stderr
    finally:
        subprocess.run(["rm", "-rf", str(fresh)], check=True)


def test_remote_is_a_repl_inside_the_node(script: Path, running) -> None:
    lines = (
        "import os\nprint('pid', os.getpid())\n"
        "def f(x):\n    return x * 2\n\nprint(f(21))\n1/0\nprint('after error')\n"
    )
    out = subprocess.run(
        [str(script), "remote"], input=lines, capture_output=True, text=True,
        env=base_env(), timeout=30,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert f"pid {running.proc.pid}" in out.stdout
    assert "42" in out.stdout and "after error" in out.stdout
    assert "ZeroDivisionError" in out.stderr
    assert running.proc.poll() is None  # leaving the REPL leaves the node running


def test_stop_returns_once_the_process_is_gone(script: Path, running) -> None:
    out = run(script, "stop")
    assert out.returncode == 0, out.stderr
    assert proc_state(running.proc.pid) in ("Z", "gone")  # exited, at most awaiting its reaper
    assert running.wait(5) == 0
    log = running.output()
    assert log.index("application demo-extra stopped") < log.index("application demo stopped")
    assert not (script.parent.parent / "tmp" / "sockets" / "demo.sock").exists()


def test_restart_keeps_the_os_process(script: Path, running) -> None:
    out = run(script, "restart")
    assert out.returncode == 0, out.stderr
    assert run(script, "pid").stdout == f"{running.proc.pid}\n"
    log = running.output()
    assert "restarting" in log and "restarted" in log
    assert log.count("demo_extra started") == 2
    assert http_get(f"http://127.0.0.1:{running.port}/health")[0] == 200


def test_a_second_node_with_the_same_name_refuses_to_start(script: Path, running) -> None:
    out = run(script, "start", env={"PORT": str(free_port())}, timeout=30)
    assert out.returncode == 1
    assert f"node demo is already running or starting (pid {running.proc.pid}" in out.stderr


def test_distribution_none_and_invalid(script: Path) -> None:
    port = free_port()
    with node(script, {"PORT": str(port), "RELEASE_DISTRIBUTION": "none"}) as n:
        wait_http(f"http://127.0.0.1:{port}/health", n.proc)
        out = run(script, "pid", env={"RELEASE_DISTRIBUTION": "none"})
        assert out.returncode == 1
        assert "runs without a control channel (RELEASE_DISTRIBUTION=none)" in out.stderr
    bad = run(script, "start", env={"RELEASE_DISTRIBUTION": "bogus"})
    assert bad.returncode == 1
    assert "RELEASE_DISTRIBUTION must be sname, name or none, got 'bogus'" in bad.stderr


@pytest.mark.parametrize("fixed_port", [False, True])
def test_name_distribution_over_tcp(script: Path, fixed_port: bool) -> None:
    env = {"PORT": str(free_port()), "RELEASE_DISTRIBUTION": "name",
           "RELEASE_NODE": "demo@127.0.0.1"}  # fmt: skip
    if fixed_port:
        env["RELEASE_DIST_PORT"] = str(free_port())
    with node(script, env) as n:
        n.wait_for("started in")
        out = run(script, "pid", env=env)
        assert out.stdout == f"{n.proc.pid}\n", out.stderr
        assert run(script, "stop", env=env).returncode == 0
        assert n.wait(5) == 0


def start_iex(script: Path, typed: str) -> tuple[int, str]:
    """Run ``start_iex`` with ``typed`` as the terminal's input; return status and output."""
    proc = subprocess.Popen(
        [str(script), "start_iex"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, env={**base_env(), "PORT": str(free_port())},
        start_new_session=True,
    )  # fmt: skip
    try:
        out, _ = proc.communicate(typed, timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    return proc.returncode, out


def test_start_iex_attaches_a_repl(script: Path) -> None:
    status, out = start_iex(script, "print(6 * 7)\n")
    assert status == 0
    assert "42" in out
    assert "received a stop request" in out  # leaving the REPL (end of input) stops the node


def test_notify_socket_gets_ready_and_stopping(script: Path, tmp_path: Path) -> None:
    path = str(tmp_path / "notify.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(30)
        with node(script, {"PORT": str(free_port()), "NOTIFY_SOCKET": path}) as n:
            ready = sock.recv(4096).decode()
            assert ready.startswith("READY=1") and f"MAINPID={n.proc.pid}" in ready
            n.signal(15)
            stopping = sock.recv(4096).decode().splitlines()
            assert stopping[0] == "STOPPING=1" and "X_PYRELEASE_STOP=requested" in stopping
            assert n.wait(10) == 0


def test_management_commands_import_no_application(script: Path, running, tmp_path) -> None:
    # remote.vm.args applies to management commands; -X importtime lists every import.
    vm_args = tmp_path / "remote.vm.args"
    vm_args.write_text("-X importtime\n")
    out = run(script, "pid", env={"RELEASE_REMOTE_VM_ARGS": str(vm_args)})
    assert out.stdout == f"{running.proc.pid}\n", out.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert "pyrelease.node.client" in imported
    assert not imported & {"demo", "demo_speedups", "pyrelease.node.applications"}


@pytest.mark.parametrize("command", [["pid"], ["rpc", "print(6 * 7)"]])
def test_management_commands_import_only_what_a_connection_needs(
    script: Path, running, tmp_path, command: list[str]
) -> None:
    # A management command's time is mostly its imports: no json, enum,
    # selectors, socket (the Python wrapper), contextlib, not even os (its
    # collection ABCs; see liteos), and without TLS no ssl or OpenSSL at all.
    vm_args = tmp_path / "remote.vm.args"
    vm_args.write_text("-X importtime\n")
    out = run(script, *command, env={"RELEASE_REMOTE_VM_ARGS": str(vm_args)})
    assert out.stdout == ("42\n" if command[0] == "rpc" else f"{running.proc.pid}\n"), out.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines()}
    assert {"_socket", "pyrelease.node.channel"} <= imported
    heavy = {"json", "enum", "selectors", "socket", "contextlib", "re", "ssl", "_ssl", "hmac",
             "hashlib", "_hashlib", "typing", "functools", "collections", "warnings", "os",
             "posixpath", "_collections_abc", "stat"}  # fmt: skip
    assert not imported & heavy


def test_stop_never_reports_a_lost_connection(script: Path) -> None:
    # Regression: the node queued the stop before replying, and a fast exit
    # could beat the reply. Repeat to give the race its chances.
    for _ in range(5):
        with node(script, {"PORT": str(free_port())}) as n:
            n.wait_for("started in")
            out = run(script, "stop")
            assert (out.returncode, out.stderr) == (0, ""), out.stderr
            assert n.wait(5) == 0


def test_leaving_start_iex_with_exit_stops_the_node(script: Path) -> None:
    for line in ("exit()", "raise SystemExit"):
        status, out = start_iex(script, line + "\nprint('still here')\n")
        assert status == 0, out
        assert "received a stop request" in out and "still here" not in out


GC_STATE = "import gc; print(gc.get_threshold(), gc.get_freeze_count() > 0)"


def test_collector_is_deferred_during_boot_then_normal(script: Path, tmp_path: Path) -> None:
    # The running node: the boot's objects frozen, the vm.args thresholds in force.
    vm_args = tmp_path / "vm.args"
    vm_args.write_text("--gc-threshold 900,11,12\n")
    port = free_port()
    with node(script, {"PORT": str(port), "RELEASE_VM_ARGS": str(vm_args)}) as n:
        wait_http(f"http://127.0.0.1:{port}/health", n.proc)
        out = run(script, "rpc", GC_STATE)
        assert out.stdout == "(900, 11, 12) True\n", out.stderr
    # `eval` runs the code after the same hand-over: boot frozen, thresholds in force.
    out = run(script, "eval", GC_STATE, env={"RELEASE_VM_ARGS": str(vm_args)})
    assert out.stdout == "(900, 11, 12) True\n", out.stderr
    # --boot-gc normal: nothing deferred, nothing frozen.
    vm_args.write_text("--boot-gc normal\n")
    port = free_port()
    with node(script, {"PORT": str(port), "RELEASE_VM_ARGS": str(vm_args)}) as n:
        wait_http(f"http://127.0.0.1:{port}/health", n.proc)
        ready = run(script, "rpc", GC_STATE).stdout
        booting = run(
            script, "eval", "import gc; print(gc.get_threshold()[0] < 100_000)",
            env={"RELEASE_VM_ARGS": str(vm_args)},
        )  # fmt: skip
    assert ready.endswith(" False\n") and not ready.startswith("(100000")
    assert booting.stdout == "True\n"
