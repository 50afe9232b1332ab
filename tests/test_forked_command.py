"""A Python command started early runs in a fork of the starting node, not a new interpreter.

The process must be the one a spawned command gets: every property a program can
see of its own process is compared between the first start (forked from the node)
and the start after ``bin/NAME restart`` (spawned, as every later start is), in the
foreground and as a daemon. Real nodes and children; nothing is left running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
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
    make_dist,
    node,
    pyrelease,
    run,
    wait_gone,
    write_pylock,
)

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(not Path("/proc").is_dir(), reason="/proc")]

# What the program can see of its own process, written to RELEASE_DATA/report-PID.json;
# then it runs until it is signalled.
REPORT = """
import sys

JSON_BEFORE = "_json" in sys.modules  # what the release loaded before the program's imports
SOCKET_BEFORE = "_socket" in sys.modules

import gc, json, os, signal, sys, time

NAMES = ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTTIN",
         "SIGTTOU", "SIGPIPE", "SIGXFSZ", "SIGCHLD", "SIGALRM"]


def disposition(signum):
    handler = signal.getsignal(signum)
    if handler == signal.SIG_DFL:
        return "default"
    if handler == signal.SIG_IGN:
        return "ignored"
    return getattr(handler, "__name__", repr(handler))


def main():
    fds = sorted(int(fd) for fd in os.listdir("/proc/self/fd"))
    with open("/proc/self/cmdline", "rb") as f:
        cmdline = [w.decode() for w in f.read().split(b"\\0") if w]
    report = {
        "pid": os.getpid(),
        "pgid": os.getpgid(0),
        "ppid": os.getppid(),
        "argv": sys.argv,
        "cwd": os.getcwd(),
        "environ": dict(os.environ),
        "fds": fds,
        "stdin": os.readlink("/proc/self/fd/0"),
        "stdin_io": sys.stdin and [sys.stdin.seekable(), sys.stdin.line_buffering,
                                   repr(sys.stdin.buffer.raw.name), sys.stdin.buffer.raw.mode],
        "signals": {n: disposition(getattr(signal, n)) for n in NAMES},
        "blocked": sorted(int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])),
        "gc": list(gc.get_threshold()),
        "gc_enabled": gc.isenabled(),
        "frozen": gc.get_freeze_count(),
        "flags": list(sys.flags),
        "executable": sys.executable,
        "orig_argv": sys.orig_argv,
        "path": sys.path,
        "stdout": sys.stdout and [sys.stdout.write_through, sys.stdout.line_buffering],
        "stderr": sys.stderr and [sys.stderr.write_through, sys.stderr.line_buffering],
        "stdio": [[repr(getattr(s, a, None)) for a in ("name", "mode", "encoding", "errors")]
                  for s in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__)],
        "main": sorted(k for k in vars(sys.modules["__main__"]) if not k.startswith("__")),
        "cmdline": cmdline,
        "json_before": JSON_BEFORE,
        "socket_before": SOCKET_BEFORE,
    }
    path = os.path.join(os.environ["RELEASE_DATA"], f"report-{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(report, f)
    os.rename(path + ".tmp", path)
    print("reported", flush=True)
    if os.environ.get("FK_PORT"):  # a server, for a readiness check
        import socket
        server = socket.create_server(("127.0.0.1", int(os.environ["FK_PORT"])))
    while True:
        time.sleep(0.05)
"""
TOOL = """
[project.scripts]
fk-report = "fk.app:main"

[tool.pyrelease.releases.fk]
command = ["fk-report", "--queue", "${QUEUE:-default}"]
"""


@pytest.fixture(scope="module")
def fk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project = make_dist(tmp_path_factory.mktemp("forked"), "fk", "fk", REPORT, "[]", TOOL)
    script = build_local(project, "fk")
    assert (script.parents[1] / "releases" / "1.0.0" / "start.command").is_file()
    return script


def reports(data: Path, count: int, timeout: float = 60) -> list[dict]:
    """The first ``count`` reports written, oldest first."""
    deadline = time.monotonic() + timeout
    while True:
        found = sorted(data.glob("report-*.json"), key=lambda p: p.stat().st_mtime_ns)
        if len(found) >= count:
            return [json.loads(p.read_text()) for p in found]
        assert time.monotonic() < deadline, f"{len(found)} of {count} reports"
        time.sleep(0.05)


def restart(fk: Path, data: Path, forked: dict, env: dict[str, str] | None = None) -> dict:
    """``restart`` the running node's command; the report of the one it spawns."""
    restarted = run(fk, "restart", env=env or {"RELEASE_DATA": str(data)})
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    first, spawned = reports(data, 2)
    assert first == forked  # the forked one's report, still the oldest
    return spawned


def compare(forked: dict, spawned: dict, script: Path) -> None:
    """The two processes are the same but for their pids and how ``ps`` shows them."""
    console = script.parents[1] / "releases" / "1.0.0" / "bin" / "fk-report"
    # What ps shows: the program and its arguments; the spawned one after its interpreter.
    assert forked["cmdline"] == [str(console), "--queue", "default"], forked["cmdline"]
    assert spawned["cmdline"][-3:] == forked["cmdline"] and len(spawned["cmdline"]) > 3
    for report in (forked, spawned):
        assert report["pgid"] != report["ppid"]  # its own group (its watchdog's), not the node's
        assert report["stdin"] == "/dev/null" and report["fds"] == [0, 1, 2, 3]
        assert not [k for k in report["environ"] if k.startswith("PYTHON")]
        assert report["signals"]["SIGTERM"] == "default"
        assert report["signals"]["SIGINT"] == "default_int_handler"
        assert report["signals"]["SIGPIPE"] == "ignored"
        assert not report["json_before"]  # the boot files come parsed from the build
        assert not report["socket_before"]  # the node's readiness polls load it after the fork
    same = {k for k in forked if k not in ("pid", "pgid", "cmdline")}
    differ = {k: (forked[k], spawned[k]) for k in sorted(same) if forked[k] != spawned[k]}
    assert not differ, differ


def test_the_first_start_forks_and_gives_the_process_a_spawn_would(
    fk: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data), "PYTHONPATH": "/nowhere", "PYTHONDONTWRITEBYTECODE": "1"}
    with node(fk, env) as n:
        n.wait_for("fk 1.0.0 started in", timeout=60)
        n.wait_for("reported")  # its output goes where the node's goes
        [forked] = reports(data, 1)
        assert f"started command fk-report --queue default while booting (pid {forked['pid']})" in (
            n.output()
        )
        assert forked["ppid"] == n.proc.pid
        spawned = restart(fk, data, forked, env=env)
        wait_gone(forked["pid"])
        compare(forked, spawned, fk)
        assert sorted(children(n.proc.pid)) == sorted([spawned["pid"], spawned["pgid"]])
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(spawned["pid"])
        assert not group_members(spawned["pgid"])
        assert "Traceback" not in n.output()


def test_the_node_polls_a_readiness_check_without_loading_socket_before_the_fork(
    tmp_path: Path,
) -> None:
    """The node polls a tcp check while the command starts; the shared library it connects
    with is loaded after the fork (the command gets it only if it imports it)."""
    tool = TOOL + 'ready = "tcp://127.0.0.1:${FK_PORT}"\n'
    fkr = build_local(make_dist(tmp_path / "ready", "fk", "fk", REPORT, "[]", tool), "fk")
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data), "FK_PORT": str(free_port())}
    with node(fkr, env) as n:
        n.wait_for("fk 1.0.0 started in", timeout=60)  # after the check passed
        [forked] = reports(data, 1)
        assert forked["ppid"] == n.proc.pid and forked["cmdline"][0].endswith("/bin/fk-report")
        assert not forked["socket_before"] and not forked["json_before"]
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
    wait_gone(forked["pid"])


def test_a_daemon_forks_it_with_a_fresh_interpreter_buffering(fk: Path, tmp_path: Path) -> None:
    """The daemon's node writes unbuffered (``-u``); its command buffers as any program."""
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    daemon = run(fk, "daemon", env=env, timeout=120)
    assert daemon.returncode == 0, daemon.stdout + daemon.stderr
    try:
        [forked] = reports(data, 1)
        assert forked["cmdline"][0].endswith("/bin/fk-report")  # the forked one
        spawned = restart(fk, data, forked, env=env)
        compare(forked, spawned, fk)
        assert forked["stdout"] == [False, False] and forked["stderr"] == [False, True]
    finally:
        assert run(fk, "stop", env=env).returncode == 0
    wait_gone(spawned["pid"])
    assert not alive(forked["pid"])


@pytest.mark.parametrize("stdin", ["pipe", "closed"])
def test_a_node_reading_a_pipe_gives_its_fork_a_fresh_stdin(
    fk: Path, tmp_path: Path, stdin: str
) -> None:
    """``... | bin/NAME start``: the node's ``sys.stdin`` was made for a pipe (not
    seekable); the command's, on ``/dev/null``, is a fresh interpreter's (seekable).
    ``bin/NAME start <&-``: the node has none (fd 0 closed); the command, on
    ``/dev/null``, has one."""
    data = tmp_path / "data"
    env = {**base_env(), "RELEASE_DATA": str(data)}
    argv = [str(fk), "start"]
    if stdin == "closed":
        argv = ["/bin/sh", "-c", 'exec "$0" start <&-', str(fk)]
    with (tmp_path / "out.log").open("w") as log:
        proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.PIPE, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            [forked] = reports(data, 1)
            spawned = restart(fk, data, forked)
            assert spawned["stdin_io"][0] is True  # /dev/null, as a spawned interpreter sees it
            compare(forked, spawned, fk)
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(60) == 0, (tmp_path / "out.log").read_text()
            proc.stdin.close()
    wait_gone(spawned["pid"])


def test_a_second_start_leaves_no_fork_behind(fk: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    with node(fk, env) as n:
        [first] = reports(data, 1)
        n.wait_for("fk 1.0.0 started in", timeout=60)
        second = run(fk, "start", env=env, timeout=60)
        assert second.returncode == 1
        assert second.stderr.startswith("ERROR: node fk is already running or starting")
        assert "Traceback" not in second.stdout + second.stderr
        assert len(reports(data, 1)) == 1  # no second command ran
        assert sorted(children(n.proc.pid)) == sorted([first["pid"], first["pgid"]])
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(first["pid"])


def test_interpreter_flags_in_vm_args_spawn_it(fk: Path, tmp_path: Path) -> None:
    """``vm.args`` flags are the node's: a fork would carry them to the command."""
    data = tmp_path / "data"
    vm_args = tmp_path / "vm.args"
    vm_args.write_text("-B\n")
    with node(fk, {"RELEASE_DATA": str(data), "RELEASE_VM_ARGS": str(vm_args)}) as n:
        n.wait_for("fk 1.0.0 started in", timeout=60)
        [spawned] = reports(data, 1)
        assert spawned["flags"][4] == 0  # no -B (dont_write_bytecode), which the node has
        assert not spawned["cmdline"][0].endswith("fk-report")
        assert "while booting" in n.output()
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(spawned["pid"])


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_on_other_pythons(version: str, tmp_path: Path) -> None:
    prefixes = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*"))
    if not prefixes:
        pytest.skip(f"no CPython {version} here")
    tool = TOOL + f'include_runtime = "{prefixes[-1]}"\n'
    script = build_local(make_dist(tmp_path, "fk", "fk", REPORT, "[]", tool), "fk")
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    with node(script, env) as n:
        n.wait_for("fk 1.0.0 started in", timeout=60)
        [forked] = reports(data, 1)
        assert forked["executable"].endswith("/releases/1.0.0/bin/python")
        assert f"python{version}" in Path(f"/proc/{n.proc.pid}/exe").resolve().name
        restarted = run(script, "restart", env=env)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        _, spawned = reports(data, 2)
        compare(forked, spawned, script)
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(spawned["pid"])


# A program that names its processes as gunicorn and celery do (``setproctitle``).
TITLED = """
import json, os, time

import setproctitle


def main():
    setproctitle.setproctitle("titled: master [app]")
    with open("/proc/self/cmdline", "rb") as f:
        shown = f.read().split(b"\\0")[0].decode()
    path = os.path.join(os.environ["RELEASE_DATA"], f"report-{os.getpid()}.json")
    with open(path + ".tmp", "w") as f:
        json.dump({"pid": os.getpid(), "shown": shown}, f)
    os.rename(path + ".tmp", path)
    while True:
        time.sleep(0.05)
"""
TITLED_TOOL = """
[project.scripts]
titled = "titled.app:main"

[tool.pyrelease.releases.titled]
command = ["titled"]
"""


def test_a_program_can_set_its_own_title(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """gunicorn ("gunicorn: master [app]") and celery set their titles with
    ``setproctitle``, which finds the command line from the environment's place in
    memory, where a fork of the node has neither: with it in the release the first
    start spawns the command too, and the title it sets shows."""
    cache = Path(request.config.cache.mkdir("pyrelease-setproctitle-wheel"))
    if not list(cache.glob("setproctitle-*.whl")):
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--no-deps", "--dest", str(cache), "setproctitle"],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if result.returncode != 0:
            pytest.skip("setproctitle could not be downloaded from the package index")
    project = make_dist(tmp_path, "titled", "titled", TITLED, '["setproctitle"]', TITLED_TOOL)
    (project / "wheels").mkdir()
    for wheel in cache.glob("setproctitle-*.whl"):
        shutil.copyfile(wheel, project / "wheels" / wheel.name)
    write_pylock(project, sorted((project / "wheels").glob("*.whl")))
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    script = project / "_build" / "prod" / "rel" / "titled" / "bin" / "titled"
    data = tmp_path / "data"
    env = {"RELEASE_DATA": str(data)}
    with node(script, env) as n:
        n.wait_for("titled 1.0.0 started in", timeout=60)
        [first] = reports(data, 1)
        assert "while booting" in n.output()  # early, but not forked
        assert first["shown"] == "titled: master [app]", first
        restarted = run(script, "restart", env=env)
        assert restarted.returncode == 0, restarted.stdout + restarted.stderr
        _, spawned = reports(data, 2)
        assert spawned["shown"] == "titled: master [app]"
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 0, n.output()
        wait_gone(spawned["pid"])


def test_signals_the_node_inherited_ignored_stay_ignored(fk: Path, tmp_path: Path) -> None:
    """``bin/NAME start &`` in a script starts the node with SIGINT and SIGQUIT ignored:
    a spawned command inherits SIGQUIT ignored (the node never catches it), and so must
    the forked one."""
    data = tmp_path / "data"
    env = {**base_env(), "RELEASE_DATA": str(data)}
    log = open(tmp_path / "node.log", "w+b")  # noqa: SIM115 - closed below

    def ignore() -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGQUIT, signal.SIG_IGN)

    proc = subprocess.Popen(
        [str(fk), "start"], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=ignore,
    )  # fmt: skip
    try:
        [forked] = reports(data, 1)
        spawned = restart(fk, data, forked)
        assert spawned["signals"]["SIGQUIT"] == "ignored"
        assert forked["signals"] == spawned["signals"]
    finally:
        proc.terminate()
        proc.wait(60)
        log.close()
    wait_gone(spawned["pid"])


def session(sid: int) -> list[int]:
    """The live processes of session ``sid``: the node, its fork, the watchdog, the command."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and fields[0] != "Z" and int(fields[3]) == sid:
            found.append(int(entry.name))
    return found


@pytest.mark.parametrize(
    "how", ["SIGKILL to the node", "SIGTERM to the node", "SIGINT to its group (Ctrl-C)"]
)
def test_the_node_ended_at_any_moment_of_the_start_leaves_nothing(
    fk: Path, tmp_path: Path, how: str
) -> None:
    """From the fork to the command running in it, whenever the node is killed or
    stopped: the fork, the watchdog and the command all end (the watchdog covers the
    command once it runs user code)."""
    signum = getattr(signal, how.split()[0])
    for delay in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.4):
        data = tmp_path / f"data-{delay}"
        with node(fk, {"RELEASE_DATA": str(data)}) as n:
            time.sleep(delay)
            if "group" in how:
                os.killpg(n.proc.pid, signum)
            else:
                n.signal(signum)
            n.wait(60)
            deadline = time.monotonic() + 30
            while session(n.proc.pid):
                assert time.monotonic() < deadline, (
                    f"{how} after {delay}s left {session(n.proc.pid)}:\n{n.output()}"
                )
                time.sleep(0.05)


def test_a_node_started_with_stderr_closed_gives_its_fork_what_a_spawn_gets(
    fk: Path, tmp_path: Path
) -> None:
    """``bin/NAME start 2>&-``: the node's first descriptors land on 2; a spawned command
    has none there (the node's are close-on-exec), so the fork must not keep one."""
    data = tmp_path / "data"
    env = {**base_env(), "RELEASE_DATA": str(data)}
    with (tmp_path / "out.log").open("w") as log:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", 'exec "$0" start 2>&-', str(fk)], env=env,
            stdin=subprocess.DEVNULL, stdout=log, start_new_session=True,
        )  # fmt: skip
    try:
        [forked] = reports(data, 1)
        try:  # what the fork holds as 2, if anything (the report's listing is gone)
            fd2 = os.readlink(f"/proc/{forked['pid']}/fd/2")
        except OSError:
            fd2 = None
        spawned = restart(fk, data, forked)
        assert spawned["fds"] == [0, 1, 2]  # 2: the report's own listing of them
        assert forked["fds"] == spawned["fds"], fd2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    wait_gone(spawned["pid"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_while_the_start_waits_for_the_lock_is_a_clean_stop(
    fk: Path, tmp_path: Path, signum: int
) -> None:
    """Ctrl-C or SIGTERM while the start waits for a lock held by no live node (its
    watchdog already runs): the node stops as it would a moment later, no traceback,
    no command started, nothing left."""
    import fcntl

    data, rtmp = tmp_path / "data", tmp_path / "rtmp"
    rtmp.mkdir(mode=0o700)
    held = os.open(rtmp / "fk.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(held, fcntl.LOCK_EX)  # no pid in it: the start waits for it (PATIENCE)
    env = {**base_env(), "RELEASE_DATA": str(data), "RELEASE_TMP": str(rtmp)}
    log_path = tmp_path / "out.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [str(fk), "start"], env=env, stdin=subprocess.DEVNULL, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while not children(proc.pid):  # the watchdog: the start is at the lock now
            assert time.monotonic() < deadline, "no watchdog"
            time.sleep(0.01)
        os.killpg(proc.pid, signum) if signum == signal.SIGINT else proc.send_signal(signum)
        time.sleep(0.2)
        os.close(held)  # a node that went on would take it now
        held = -1
        proc.wait(60)
        output = log_path.read_text()
        assert "Traceback" not in output, output
        assert proc.returncode in (0, 1, 128 + signum, -signum), output
        assert not list(data.glob("report-*.json")), output  # no command ran
        deadline = time.monotonic() + 30
        while session(proc.pid):
            assert time.monotonic() < deadline, f"left running: {session(proc.pid)}"
            time.sleep(0.05)
    finally:
        if held >= 0:
            os.close(held)
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_descriptors_the_node_inherited_are_not_the_commands(fk: Path, tmp_path: Path) -> None:
    """A descriptor the caller left open in the node is closed in the forked command,
    as in a spawned one: the command has 0, 1 and 2 only."""
    data = tmp_path / "data"
    env = {**base_env(), "RELEASE_DATA": str(data)}
    extra = os.open(tmp_path / "inherited", os.O_WRONLY | os.O_CREAT)
    try:
        proc = subprocess.Popen(
            [str(fk), "start"], env=env, pass_fds=(extra,), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    finally:
        os.close(extra)
    try:
        [forked] = reports(data, 1)
        assert forked["fds"] == [0, 1, 2, 3], forked["fds"]  # 3: its own listing of them
        assert forked["ppid"] == proc.pid
        assert extra in [int(fd) for fd in os.listdir(f"/proc/{proc.pid}/fd")]  # the node's
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    wait_gone(forked["pid"])
