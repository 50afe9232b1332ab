"""Nothing wedges the node: a stop at any moment of its life (runtime config, an
application's start that never says it is ready, a stop callback that hangs, an
``rpc`` holding the GIL in C code) ends it within its timeouts, and two starts of
the same node never both run.

Two applications: ``stpbase`` (a dependency, started first, stopped last) and
``stp``, whose start behaves as ``STP_START`` says. Real processes and signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import base_env, free_port, make_dist, node, pyrelease, run, wait_http, write_pylock

pytestmark = pytest.mark.e2e

STPBASE = """
import os
from pathlib import Path

def start(ctx):
    print("stpbase started", flush=True)

    def stopping():
        print("stpbase stopping", flush=True)
        if os.environ.get("STP_MARKS"):
            Path(os.environ["STP_MARKS"], "stpbase.stopped").write_text("stopped")

    ctx.on_stop(stopping)
    return object()
"""

STP = """
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


if os.environ.get("STP_IMPORT_SLEEP"):  # a module that is slow to import (preloading)
    print("stp importing slowly", flush=True)
    time.sleep(float(os.environ["STP_IMPORT_SLEEP"]))


def start(ctx):
    how = os.environ.get("STP_START", "ready")
    print(f"stp starting ({how})", flush=True)
    if how == "serve":  # what uvicorn.run(app) and serve_forever() do: block, never ready()
        server = ThreadingHTTPServer(("127.0.0.1", ctx.config["port"]), Handler)
        ctx.on_stop(server.shutdown)
        server.serve_forever()
        server.server_close()
        print("stp served its last request", flush=True)
        return None
    if how == "stuck":  # blocks and pays no attention to the stop
        while True:
            time.sleep(0.5)
    if how == "hang_on_stop":
        ctx.on_stop(lambda: time.sleep(3600))
    ctx.on_stop(lambda: print("stp stopping", flush=True))
    return object()
"""

RUNTIME = """
import os, time
from pyrelease.node.appconfig import config

if os.environ.get("STP_CONFIG_SLEEP"):
    print("runtime config sleeping", flush=True)
    time.sleep(float(os.environ["STP_CONFIG_SLEEP"]))
config("stp", port=int(os.environ.get("PORT", "1")))
"""

RELEASES = """
[tool.pyrelease]
mod = "stp.app:start"
default_release = "stp"

[tool.pyrelease.releases.stp]
[tool.pyrelease.releases.early]
start_distribution_during_config = true
"""

REGEX_RPC = "print('go', flush=True)\nimport re\nre.match(r'(a+)+$', 'a' * 40 + 'b')"


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("stop")
    stpbase = make_dist(
        base, "stpbase", "stpbase", STPBASE, "[]",
        '[project.entry-points."pyrelease.application"]\nstpbase = "stpbase.app:start"',
    )  # fmt: skip
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(base / "wheels"), str(stpbase)],
        check=True, capture_output=True,
    )  # fmt: skip
    project = make_dist(base, "stp", "stp", STP, '["stpbase"]', RELEASES)
    (project / "config").mkdir()
    (project / "config" / "runtime.py").write_text(RUNTIME)
    write_pylock(project, sorted((base / "wheels").glob("*.whl")))
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    result = pyrelease("build", "early", "--no-compile", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "stp" / "bin" / "stp"


def early_script(script: Path) -> Path:
    """The release whose control channel starts before its runtime config."""
    return script.parents[2] / "early" / "bin" / "early"


@pytest.fixture
def vm_args(tmp_path: Path) -> Path:
    """A vm.args with a short shutdown timeout."""
    path = tmp_path / "vm.args"
    path.write_text("--shutdown-timeout 2\n")
    return path


def env_with(tmp_path: Path, **extra: str) -> dict[str, str]:
    """Each test its own RELEASE_TMP, so that tests never see each other's nodes."""
    return {"RELEASE_TMP": str(tmp_path / "rtmp"), **extra}


def assert_no_traceback(text: str) -> None:
    assert "Traceback" not in text, text


# -- a stop at any moment -------------------------------------------------------------


def test_the_stop_command_stops_a_boot_before_its_channel_is_up(
    script: Path, tmp_path: Path
) -> None:
    env = env_with(tmp_path, STP_CONFIG_SLEEP="120", RELEASE_STOP_TIMEOUT="30")
    with node(script, env) as n:  # its channel starts after the runtime config
        n.wait_for("runtime config sleeping")
        out = run(script, "stop", env=env, timeout=60)
        assert out.returncode == 0, out.stderr
        assert f"node stp (pid {n.proc.pid}) runs but does not answer" in out.stderr
        assert "sending SIGTERM to it" in out.stderr
        assert n.wait(10) == 0, n.output()
        log = n.output()
    assert "received SIGTERM while booting, stopping" in log
    assert "stpbase started" not in log
    assert_no_traceback(log + out.stderr)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_runtime_config_stops_the_boot(script: Path, tmp_path: Path,
                                                       sig: int) -> None:  # fmt: skip
    with node(script, env_with(tmp_path, STP_CONFIG_SLEEP="120")) as n:
        n.wait_for("runtime config sleeping")
        n.signal(sig)
        assert n.wait(30) == 0, n.output()
        out = n.output()
    assert f"received {signal.Signals(sig).name} while booting, stopping" in out
    assert "stpbase started" not in out  # nothing had started, nothing was started
    assert_no_traceback(out)
    assert not (tmp_path / "rtmp" / "sockets" / "stp.sock").exists()


@pytest.mark.parametrize(
    ("phase", "env", "seen"),
    [("config", {"STP_CONFIG_SLEEP": "120"}, "runtime config sleeping"),
     ("preload", {"STP_IMPORT_SLEEP": "120"}, "stp importing slowly")],
)  # fmt: skip
def test_the_stop_command_interrupts_the_boot(script: Path, tmp_path: Path, phase: str,
                                              env: dict[str, str], seen: str) -> None:  # fmt: skip
    early = early_script(script)  # its channel is up while the runtime config runs
    env = env_with(tmp_path, RELEASE_STOP_TIMEOUT="30", **env)
    with node(early, env) as n:
        n.wait_for(seen)
        out = run(early, "stop", env=env, timeout=60)
        assert (out.returncode, out.stderr) == (0, "")
        assert n.wait(10) == 0, n.output()
        log = n.output()
    assert "received a stop request while booting, stopping" in log
    assert "stpbase started" not in log
    assert_no_traceback(log)
    assert not (tmp_path / "rtmp" / "sockets" / "early.sock").exists()


@pytest.mark.parametrize("how", ["stop", "SIGTERM"])
def test_a_start_that_blocks_without_ready_can_be_stopped(script: Path, tmp_path: Path,
                                                          how: str) -> None:  # fmt: skip
    env = env_with(tmp_path, STP_START="serve", PORT=str(free_port()))
    with node(script, env) as n:
        wait_http(f"http://127.0.0.1:{env['PORT']}/", n.proc)  # it serves, without ready()
        n.wait_for("call ctx.ready() once it serves", timeout=60)
        if how == "stop":
            out = run(script, "stop", env={**env, "RELEASE_STOP_TIMEOUT": "60"}, timeout=90)
            assert out.returncode == 0, out.stderr + n.output()
        else:
            n.signal(signal.SIGTERM)
        assert n.wait(30) == 0, n.output()
        log = n.output()
    # The blocked start returned once stopped, then the dependency stopped, in reverse order.
    assert log.index("stp served its last request") < log.index("application stp stopped")
    assert log.index("application stp stopped") < log.index("stpbase stopping")
    assert log.count("has neither returned from its start") == 1  # one hint, not one a second
    assert "started in" not in log  # the node never claimed to be ready
    assert_no_traceback(log)


def test_a_start_that_ignores_the_stop_is_abandoned(script: Path, tmp_path: Path,
                                                    vm_args: Path) -> None:  # fmt: skip
    env = env_with(tmp_path, STP_START="stuck", RELEASE_VM_ARGS=str(vm_args))
    with node(script, env) as n:
        n.wait_for("stp starting (stuck)")
        n.signal(signal.SIGTERM)
        assert n.wait(30) == 1, n.output()
        log = n.output()
    assert "application stp did not stop within 2s" in log
    assert "stpbase stopping" in log  # the others still stop cleanly
    assert "node stopped, but application stp did not stop" in log


def test_a_hanging_stop_callback_is_bounded_by_the_shutdown_timeout(
    script: Path, tmp_path: Path, vm_args: Path
) -> None:
    marks = tmp_path / "marks"
    marks.mkdir()
    env = env_with(tmp_path, STP_START="hang_on_stop", STP_MARKS=str(marks),
                   RELEASE_VM_ARGS=str(vm_args))  # fmt: skip
    with node(script, env) as n:
        n.wait_for("started in")
        began = time.monotonic()
        n.signal(signal.SIGTERM)
        assert n.wait(60) == 1, n.output()
        took = time.monotonic() - began
        log = n.output()
    assert took >= 2  # it did wait for the callback, up to the timeout
    assert "application stp did not stop within 2s: a stop callback is still running" in log
    assert (marks / "stpbase.stopped").exists()  # the dependency still got its stop
    assert not (tmp_path / "rtmp" / "sockets" / "stp.sock").exists()


# -- an rpc holding the GIL -------------------------------------------------------------


def test_stop_force_kills_a_node_stuck_in_c_code(script: Path, tmp_path: Path) -> None:
    env = env_with(tmp_path, RELEASE_STOP_TIMEOUT="2")
    with node(script, env) as n:
        n.wait_for("started in")
        rpc = subprocess.Popen(
            [str(script), "rpc", REGEX_RPC], env={**base_env(), **env},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert rpc.stdout is not None and rpc.stdout.readline() == "go\n"
            plain = run(script, "stop", env=env, timeout=60)
            assert plain.returncode == 1
            assert "stop --force" in plain.stderr, plain.stderr
            assert_no_traceback(plain.stderr)
            assert n.proc.poll() is None  # without --force, a foreground node is left alone
            forced = run(script, "stop", "--force", env=env, timeout=60)
            assert forced.returncode == 0, forced.stderr
            assert f"killed it with SIGKILL (pid {n.proc.pid})" in forced.stderr
            assert n.wait(10) == -signal.SIGKILL
            assert rpc.wait(10) == 1  # the caller learns that the connection was lost
        finally:
            rpc.kill()
            rpc.communicate()


def test_stop_refuses_unknown_options(script: Path, tmp_path: Path) -> None:
    out = run(script, "stop", "--now", env=env_with(tmp_path))
    assert out.returncode == 1
    assert out.stderr == "ERROR: stop takes no argument but --force, got '--now'\n"


# -- two starts at once --------------------------------------------------------------------


def test_a_second_start_is_refused_even_without_a_control_channel(
    script: Path, tmp_path: Path
) -> None:
    env = env_with(tmp_path, RELEASE_DISTRIBUTION="none")
    with node(script, env) as n:
        n.wait_for("started in")
        again = run(script, "start", env=env, timeout=30)
        assert again.returncode == 1
        assert again.stderr.startswith(
            f"ERROR: node stp is already running or starting (pid {n.proc.pid};"
        ), again.stderr
        assert_no_traceback(again.stderr + again.stdout)
        assert n.proc.poll() is None


def test_a_killed_node_never_blocks_the_next_start(script: Path, tmp_path: Path) -> None:
    env = env_with(tmp_path)
    lock = tmp_path / "rtmp" / "stp.lock"
    with node(script, env) as n:
        n.wait_for("started in")
        assert lock.read_text() == f"{n.proc.pid}\n"
        n.signal(signal.SIGKILL)
        n.wait(10)
    assert lock.exists()  # left behind, with a dead pid in it: not a lock any more
    with node(script, env) as n:
        n.wait_for("started in")
        assert run(script, "stop", env=env).returncode == 0
        assert n.wait(10) == 0
    assert not lock.exists()  # a node that exits removes it


def test_a_start_is_not_refused_while_stop_reads_the_lock(script: Path, tmp_path: Path) -> None:
    """`stop` takes a shared lock for an instant to read the pid; a start at that
    instant waits for it rather than report a node that does not run."""
    import fcntl

    env = env_with(tmp_path)
    (tmp_path / "rtmp").mkdir(mode=0o700)
    lock = tmp_path / "rtmp" / "stp.lock"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock.write_text(f"{dead.pid}\n")  # left by a node killed with SIGKILL
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH)  # as `stop` holds it while reading (here, longer)
        with node(script, env) as n:
            time.sleep(2)  # the start meets the shared lock meanwhile
            fcntl.flock(fd, fcntl.LOCK_UN)
            n.wait_for("started in")
            assert lock.read_text() == f"{n.proc.pid}\n"
    finally:
        os.close(fd)


def test_simultaneous_starts_boot_exactly_one_node(script: Path, tmp_path: Path) -> None:
    env = {**base_env(), **env_with(tmp_path)}
    for _ in range(3):
        procs = [
            subprocess.Popen([str(script), "start"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, start_new_session=True)
            for _ in range(6)
        ]  # fmt: skip
        try:
            deadline = time.monotonic() + 60  # all but one give up (the bug: more boot)
            while sum(p.poll() is not None for p in procs) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1)  # a second survivor would have had the time to boot too
            survivors = [p for p in procs if p.poll() is None]
            pid = run(script, "pid", env=env_with(tmp_path), timeout=30)
            while pid.returncode != 0 and time.monotonic() < deadline:  # still booting
                time.sleep(0.2)
                pid = run(script, "pid", env=env_with(tmp_path), timeout=30)
            for p in survivors:
                p.send_signal(signal.SIGTERM)
            outputs = [p.communicate(timeout=60)[0] for p in procs]
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        assert len(survivors) == 1, outputs
        assert pid.stdout == f"{survivors[0].pid}\n", pid.stderr  # the one that runs answers
        assert survivors[0].returncode == 0, outputs
        for p, out in zip(procs, outputs, strict=True):
            if p is not survivors[0]:
                assert p.returncode == 1, out
                assert "ERROR: node stp is already running or starting" in out, out
                assert_no_traceback(out)


# -- other Pythons ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_stops_on_other_pythons(version: str, tmp_path: Path) -> None:
    prefixes = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*"))
    if not prefixes:
        pytest.skip(f"no CPython {version} here")
    tool = (
        f'[tool.pyrelease]\nmod = "stp.app:start"\n'
        f'[tool.pyrelease.releases.stp]\ninclude_runtime = "{prefixes[-1]}"\n'
    )
    project = make_dist(tmp_path, "stp", "stp", STP, "[]", tool)
    (project / "config").mkdir()
    (project / "config" / "runtime.py").write_text(RUNTIME)
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    script = project / "_build" / "prod" / "rel" / "stp" / "bin" / "stp"
    with node(script, env_with(tmp_path, STP_CONFIG_SLEEP="120")) as n:
        n.wait_for("runtime config sleeping")
        n.signal(signal.SIGTERM)
        assert n.wait(30) == 0, n.output()
        assert "received SIGTERM while booting, stopping" in n.output()
    env = env_with(tmp_path, STP_START="serve", PORT=str(free_port()))
    with node(script, env) as n:
        wait_http(f"http://127.0.0.1:{env['PORT']}/", n.proc)
        out = run(script, "stop", env=env, timeout=90)
        assert out.returncode == 0, out.stderr + n.output()
        assert n.wait(30) == 0, n.output()
        assert "application stp stopped" in n.output()


def test_stop_names_a_bad_stop_timeout(script: Path, tmp_path: Path) -> None:
    out = run(script, "stop", env=env_with(tmp_path, RELEASE_STOP_TIMEOUT="1m"))
    assert out.returncode == 1
    assert out.stderr == "ERROR: RELEASE_STOP_TIMEOUT must be a number 0 or more, got '1m'\n"
    # the other commands never read it
    out = run(script, "pid", env=env_with(tmp_path, RELEASE_STOP_TIMEOUT="1m"))
    assert out.returncode == 1
    assert out.stderr.startswith("ERROR: no "), out.stderr  # no node (or no cookie yet)


def test_the_usage_mentions_stop_force(script: Path, tmp_path: Path) -> None:
    out = run(script, "help", env=env_with(tmp_path))
    assert "stop [--force]" in out.stderr, out.stderr


def test_stop_force_signals_no_pid_from_a_tmp_others_can_write(
    script: Path, tmp_path: Path
) -> None:
    """Another user who can write in RELEASE_TMP could plant NODE.lock, hold it, and
    write in it the pid of another of our nodes: `stop --force` must not kill that."""
    import fcntl

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # no sticky bit: anyone may add or replace entries
    victim = subprocess.Popen(  # looks like a node process of ours
        [sys.executable, "-c", "import time; time.sleep(120)", "pyrelease/node/__main__.py"]
    )
    lock = shared / "stp.lock"
    lock.write_text(f"{victim.pid}\n")
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        env = {"RELEASE_TMP": str(shared), "RELEASE_STOP_TIMEOUT": "1"}
        out = run(script, "stop", "--force", env=env, timeout=60)
        assert out.returncode == 1
        assert f"RELEASE_TMP {shared} can be written by other users" in out.stderr, out.stderr
        assert_no_traceback(out.stderr + out.stdout)
        assert victim.poll() is None
    finally:
        os.close(fd)
        victim.kill()
        victim.wait()
