"""A command started before the node boots: ``bin/NAME start`` of a release whose command
is the first application and whose boot cannot change it starts the command first, then
boots, then adopts it. Real nodes and children; every exit path leaves no process.

To see *when* the command starts, the release reads its configuration from a TOML file
(a built-in config provider, which keeps the release eligible) that the tests make a
named pipe: the node's boot blocks reading it until the test writes it, and the
command must be running meanwhile."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from helpers import (
    alive,
    build_local,
    children,
    free_port,
    group_members,
    make_dist,
    node,
    overlay_tool,
    run,
    wait_file,
    wait_gone,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc").is_dir(), reason="/proc")]

# A worker that is not Python: a Python one would read the release's configuration
# too (as `bin/NAME python` does), and wait on the same pipe as the node.
WORKER = """#!/bin/sh
trap 'exit 0' TERM
printf '{"pid": %s, "argv": ["%s", "%s"], "cwd": "%s"}' $$ "$1" "$2" "$PWD" > "$RELEASE_DATA/w.tmp"
mv "$RELEASE_DATA/w.tmp" "$RELEASE_DATA/worker.json"
echo "worker running"
while :; do sleep 0.05 & wait $!; done
"""
TOOL = """
[tool.pyrelease.releases.est]
command = ["tools/worker.sh", "--queue", "${QUEUE:-default}"]
start_distribution_during_config = true
config_providers = [{ provider = "toml", path = "$EST_CONFIG", optional = true }]
"""
STARTED = re.compile(r"\[node\] started command (.*) while booting \(pid (\d+)\)")


@pytest.fixture(scope="module")
def est(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_dist(tmp_path_factory.mktemp("early"), "est", "est", "", "[]", TOOL)
    overlay_tool(project, "worker.sh", WORKER)
    script = build_local(project, "est")
    assert (script.parents[1] / "releases" / "1.0.0" / "start.command").is_file()
    return script


def wait_group_gone(pgid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while group_members(pgid):
        assert time.monotonic() < deadline, group_members(pgid)
        time.sleep(0.05)


def early_pid(output: str) -> int:
    found = STARTED.search(output)
    assert found, output
    return int(found[2])


def test_the_command_runs_while_the_node_is_still_booting(est: Path, tmp_path: Path) -> None:
    data, fifo = tmp_path / "data", tmp_path / "config.toml"
    os.mkfifo(fifo)
    env = {"RELEASE_DATA": str(data), "EST_CONFIG": str(fifo), "QUEUE": "mail"}
    with node(est, env) as n:
        # The node waits for its configuration (the pipe); the command runs already.
        info = wait_file(data / "worker.json")
        pgid = os.getpgid(info["pid"])
        assert info["argv"] == ["--queue", "mail"] and info["cwd"] == str(data)
        assert "est 1.0.0 started in" not in n.output()
        n.wait_for("worker running")  # its output goes where the node's goes
        command = "tools/worker.sh --queue mail"
        n.wait_for(f"started command {command} while booting (pid {info['pid']})")
        with open(fifo, "w") as f:
            f.write("[est]\ngreeting = 'from the pipe'\n")
        n.wait_for("est 1.0.0 started in", timeout=60)
        n.wait_for("application command:worker.sh started (permanent)")
        # Adopted: the same child, no second one (the node's children: it and its watchdog).
        assert sorted(children(n.proc.pid)) == sorted([info["pid"], pgid])
        code = "from pyrelease.node.appconfig import get_env; print(get_env('est', 'greeting'))"
        said = run(est, "rpc", code, env=env)
        assert said.stdout.strip() == "from the pipe", said.stdout + said.stderr
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(info["pid"])
        wait_group_gone(pgid)


@pytest.mark.parametrize("how", ["SIGTERM", "stop"])
def test_a_stop_while_booting_stops_the_command_and_leaves_nothing(
    est: Path, tmp_path: Path, how: str
) -> None:
    data, fifo = tmp_path / "data", tmp_path / "config.toml"
    os.mkfifo(fifo)
    env = {"RELEASE_DATA": str(data), "EST_CONFIG": str(fifo)}
    with node(est, env) as n:
        info = wait_file(data / "worker.json")
        pgid = os.getpgid(info["pid"])
        if how == "SIGTERM":
            n.signal(signal.SIGTERM)
            why = "SIGTERM"
        else:  # the control channel opens before the configuration (this release's setting)
            deadline = time.monotonic() + 60
            while (stop := run(est, "stop", env=env)).returncode != 0:
                assert time.monotonic() < deadline, stop.stderr
                time.sleep(0.1)
            why = "a stop request"
        assert n.wait(60) == 0, n.output()
        out = n.output()
        assert f"received {why} while booting, stopping" in out, out
        assert "stopping command tools/worker.sh --queue default: the node did not finish" in out
        wait_gone(info["pid"])
        wait_group_gone(pgid)
        assert "Traceback" not in out


def test_sigterm_as_soon_as_the_command_started_leaves_nothing(est: Path, tmp_path: Path) -> None:
    """The node may not have its own handlers yet: the stop is kept for them."""
    data = tmp_path / "data"
    with node(est, {"RELEASE_DATA": str(data)}) as n:
        deadline = time.monotonic() + 60
        while not STARTED.search(n.output()):
            assert n.proc.poll() is None and time.monotonic() < deadline, n.output()
            time.sleep(0.001)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        out = n.output()
        assert "received SIGTERM" in out and "Traceback" not in out, out
        pid = early_pid(out)
        wait_gone(pid)
        wait_group_gone(pid)  # the child's group is its watchdog's: gone with both


def test_a_boot_failing_after_the_command_started_leaves_nothing(est: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    broken = tmp_path / "broken"
    (tmp_path / "broken.config").write_text("{not json")
    env = {"RELEASE_DATA": str(data), "RELEASE_SYS_CONFIG": str(broken)}
    result = run(est, "start", env=env, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.startswith(f"ERROR: sys.config {broken}.config is unreadable"), (
        result.stderr
    )
    assert "Traceback" not in result.stdout + result.stderr
    pid = early_pid(result.stdout)  # it had started, and was stopped when the boot failed
    assert "the node did not finish booting" in result.stdout
    wait_gone(pid)
    wait_group_gone(pid)


def test_a_bad_vm_args_starts_nothing(est: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    vm_args = tmp_path / "vm.args"
    vm_args.write_text("--no-such-setting\n")
    result = run(est, "start", env={"RELEASE_DATA": str(data), "RELEASE_VM_ARGS": str(vm_args)})
    assert result.returncode == 1
    assert result.stderr.startswith(f"ERROR: {vm_args} line 1: unknown or incomplete setting")
    assert not STARTED.search(result.stdout) and not (data / "worker.json").exists()


def test_interpreter_flags_in_vm_args_start_the_command_once(est: Path, tmp_path: Path) -> None:
    """``-B`` makes the node re-execute itself: the command starts in the final image only
    (started before, it would lose its watchdog's pipe at the exec and be killed)."""
    data = tmp_path / "data"
    vm_args = tmp_path / "vm.args"
    vm_args.write_text("-B\n")
    with node(est, {"RELEASE_DATA": str(data), "RELEASE_VM_ARGS": str(vm_args)}) as n:
        n.wait_for("est 1.0.0 started in", timeout=60)
        info = wait_file(data / "worker.json")
        assert len(STARTED.findall(n.output())) == 1
        assert early_pid(n.output()) == info["pid"]
        time.sleep(0.5)
        assert alive(info["pid"]), n.output()
        assert sorted(children(n.proc.pid)) == sorted([info["pid"], os.getpgid(info["pid"])])
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(info["pid"])


def test_a_second_start_fails_without_a_second_command(est: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    with node(est, env) as n:
        n.wait_for("est 1.0.0 started in", timeout=60)
        first = wait_file(data / "worker.json")["pid"]
        (data / "worker.json").unlink()
        second = run(est, "start", env=env, timeout=60)
        assert second.returncode == 1
        assert second.stderr.startswith("ERROR: node est is already running or starting")
        assert not STARTED.search(second.stdout) and "Traceback" not in second.stderr
        assert not (data / "worker.json").exists()  # no second command ran
        assert alive(first)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(first)


def test_daemon_starts_the_command_early_and_logs_it(est: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    daemon = run(est, "daemon", env=env, timeout=120)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        info = wait_file(data / "worker.json")
        node_pid = int(run(est, "pid", env=env).stdout)
        log = (est.parents[1] / "tmp" / "log" / "est.log").read_text()
        assert (
            f"started command tools/worker.sh --queue default while booting (pid {info['pid']})"
            in log
        )
        deadline = time.monotonic() + 30
        while "worker running" not in log:  # the child's output goes to the daemon's log
            assert time.monotonic() < deadline, log
            time.sleep(0.05)
            log = (est.parents[1] / "tmp" / "log" / "est.log").read_text()
        assert info["pid"] in children(node_pid)
    finally:
        assert run(est, "stop", env=env).returncode == 0
    wait_gone(info["pid"])
    wait_group_gone(info["pid"])


SERVER = """#!/bin/sh
exec python3 -c '
import os, socket, time
time.sleep(0.2)
s = socket.socket()
print("binding", flush=True)
s.bind(("127.0.0.1", int(os.environ["PORT"])))
s.listen()
while True:
    s.accept()[0].close()
'
"""


def test_the_node_boots_once_the_command_is_ready(tmp_path: Path) -> None:
    """With a ready check, the node lets the server start alone (a second at most),
    then boots: its boot does not take the server's CPU while it starts."""
    tool = (
        '[tool.pyrelease.releases.srv]\ncommand = ["tools/serve.sh"]\n'
        'ready = "tcp://127.0.0.1:${PORT}"\n'
    )
    project = make_dist(tmp_path, "srv", "srv", "", "[]", tool)
    overlay_tool(project, "serve.sh", SERVER)
    script = build_local(project, "srv")
    port = free_port()
    with node(script, {"PORT": str(port), "RELEASE_DATA": str(tmp_path / "data")}) as n:
        n.wait_for("srv 1.0.0 started in", timeout=60)
        out = n.output()
        # The server bound its port before the node went on with its boot.
        assert STARTED.search(out).start() < out.index("binding") < out.index("[node] preloaded")
        pid = early_pid(out)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(pid)
