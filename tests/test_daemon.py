"""``bin/NAME daemon`` and ``daemon_iex``: a detached node under a supervisor that
reports the boot's outcome, rotates logs, restarts a crashed node (heart) and
cleans up after itself. Real processes and signals; every process a test
starts is killed at its teardown."""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from helpers import base_env, make_dist, pyrelease, write_pylock
from pyrelease.node import logrotate
from pyrelease.node.heart import Heart

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

# The application's behaviour at start comes from the environment.
DMN = """
import os, time
from pathlib import Path

def start(ctx):
    for i in range(int(os.environ.get("DMN_LINES", "0"))):
        print(f"line {i:05d} " + "x" * 40, flush=True)
    time.sleep(float(os.environ.get("DMN_SLEEP", "0")))
    if os.environ.get("DMN_CRASH"):
        raise RuntimeError("dmn crashed at boot on purpose")
    if os.environ.get("DMN_MARK"):
        ctx.on_stop(lambda: Path(os.environ["DMN_MARK"]).write_text("stopped"))
    if os.environ.get("DMN_BLOCK"):  # serves until stopped, never calls ctx.ready()
        print("dmn serving", flush=True)
        ctx.stopping.wait()
        return None
    print("dmn up", flush=True)
    return True
"""

REGEX_RPC = "print('go', flush=True)\nimport re\nre.match(r'(a+)+$', 'a' * 40 + 'b')"

HEADER = re.compile(r"===== LOGGING STARTED \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC =====")


@pytest.fixture(scope="module", autouse=True)
def adopt_orphans() -> Iterator[None]:
    """Daemons outlive the command that started them: make this process their
    parent (a Linux child subreaper) so that they can be reaped, not left as zombies."""
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_child_subreaper = 36
    libc.prctl(pr_set_child_subreaper, 1, 0, 0, 0)
    try:
        yield
    finally:
        libc.prctl(pr_set_child_subreaper, 0, 0, 0, 0)
        reap()


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release, built once."""
    base = tmp_path_factory.mktemp("daemon")
    project = make_dist(base, "dmn", "dmn", DMN, "[]", '[tool.pyrelease]\nmod = "dmn.app:start"')
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "dmn"


class Daemon:
    """One test's daemon: its own RELEASE_TMP, commands, files and processes."""

    def __init__(self, root: Path, tmp: Path) -> None:
        self.root, self.tmp = root, tmp
        self.script = root / "bin" / "dmn"
        self.log = tmp / "log" / "dmn.log"
        self.pid_file = tmp / "dmn.pid"
        self.supervisor_file = tmp / "dmn.supervisor.pid"
        self.fifo = tmp / "pipe" / "dmn.in"

    def env(self, **extra: str) -> dict[str, str]:
        return {**base_env(), "RELEASE_TMP": str(self.tmp), **extra}

    def run(self, command: str = "daemon", cwd: Path | None = None,
            **extra: str) -> subprocess.CompletedProcess[str]:  # fmt: skip
        return subprocess.run(
            [str(self.script), command], env=self.env(**extra), cwd=cwd,
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    def start(self, command: str = "daemon", **extra: str) -> tuple[int, int]:
        """Start and expect success; return (supervisor pid, node pid)."""
        result = self.run(command, **extra)
        assert result.returncode == 0, result.stderr + self.log_text()
        return read_pid(self.supervisor_file), read_pid(self.pid_file)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def processes(self) -> list[int]:
        """Every live process started for this test (recognised by its RELEASE_TMP)."""
        mark = f"RELEASE_TMP={self.tmp}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or proc_state(int(entry.name)) in ("gone", "Z"):
                continue
            with contextlib.suppress(OSError):
                if mark in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
        return found

    def kill_all(self) -> None:
        if self.supervisor_file.exists():  # its group holds the node too
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.killpg(read_pid(self.supervisor_file), signal.SIGKILL)
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not self.processes(), "processes to die")
        reap()


@pytest.fixture
def daemon(root: Path, tmp_path: Path) -> Iterator[Daemon]:
    d = Daemon(root, tmp_path / "t")
    try:
        yield d
    finally:
        d.kill_all()


def read_pid(path: Path) -> int:
    return int(path.read_text())


def proc_state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return "gone"


def gone(pid: int) -> bool:
    return proc_state(pid) in ("gone", "Z")


def reap() -> None:
    """Collect the adopted supervisors that have exited."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                return
        except ChildProcessError:
            return


def wait_until(check: Callable[[], object], what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def cmdline(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_text().split("\0")[:-1]


def ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[2])


def log_files(d: Daemon) -> list[Path]:
    return sorted(d.log.parent.glob("dmn.log.*"))


# -- starting --------------------------------------------------------------------


def test_daemon_returns_only_once_the_node_is_ready(daemon: Daemon) -> None:
    began = time.monotonic()
    result = daemon.run(DMN_SLEEP="0.8")
    assert result.returncode == 0, result.stderr + daemon.log_text()
    assert time.monotonic() - began >= 0.8
    assert (result.stdout, result.stderr) == ("", "")
    assert "dmn up" in daemon.log_text()  # every application had started
    node, supervisor = read_pid(daemon.pid_file), read_pid(daemon.supervisor_file)
    args = cmdline(node)
    assert args[-2:] == [str(daemon.root / "releases/1.0.0/node/pyrelease/node/__main__.pyc"),
                         "start"]  # fmt: skip
    assert ppid(node) == supervisor
    # The supervisor is detached: its own session, no terminal, stdin from /dev/null.
    assert os.getsid(supervisor) == supervisor
    assert Path(f"/proc/{supervisor}/stat").read_text().rsplit(")", 1)[1].split()[4] == "0"
    assert os.readlink(f"/proc/{supervisor}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{supervisor}/cwd") == str(daemon.root)
    for folder in ("log", "pipe"):
        assert stat.S_IMODE((daemon.tmp / folder).stat().st_mode) == 0o700
    # The control channel works as with start.
    pid = subprocess.run([str(daemon.script), "pid"], env=daemon.env(), capture_output=True,
                         text=True, timeout=30)  # fmt: skip
    assert pid.stdout.strip() == str(node), pid.stderr


def test_a_second_daemon_for_the_same_node_is_refused(daemon: Daemon) -> None:
    supervisor, node = daemon.start()
    again = daemon.run()
    assert again.returncode == 1
    assert again.stderr.strip() == (
        f"ERROR: a daemon for node dmn is already running (supervisor pid {supervisor}); "
        "stop it first"
    )
    assert read_pid(daemon.pid_file) == node and not gone(node)


def test_a_node_left_without_its_supervisor_is_refused(daemon: Daemon) -> None:
    supervisor, node = daemon.start()
    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), "the supervisor to die")
    again = daemon.run()
    assert again.returncode == 1
    assert f"ERROR: node dmn is already running (pid {node}" in again.stderr
    assert "without its daemon supervisor" in again.stderr


def test_a_node_that_crashes_at_boot_fails_the_daemon_with_its_log(daemon: Daemon) -> None:
    result = daemon.run(DMN_CRASH="1")
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "ERROR: node dmn exited with status 1 before it was ready"
    assert lines[1] == f"Last lines of its log ({daemon.log}.1):"
    assert "RuntimeError: dmn crashed at boot on purpose" in result.stderr
    assert "application dmn failed to start" in result.stderr
    assert len(lines) <= 2 + 20
    # Nothing is left: no process, no pid file, no pipe; the log stays.
    assert daemon.processes() == []
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()
    assert list((daemon.tmp / "pipe").iterdir()) == []
    assert "[daemon] node dmn exited with status 1 before it was ready" in daemon.log_text()


def test_a_node_not_ready_in_time_is_stopped_and_reported(daemon: Daemon) -> None:
    began = time.monotonic()
    result = daemon.run(DMN_SLEEP="30", RELEASE_DAEMON_TIMEOUT="0.5", RELEASE_STOP_TIMEOUT="0.5")
    assert time.monotonic() - began < 10
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: node dmn did not become ready within 0.5s\n")
    assert daemon.processes() == []
    assert "exited with signal SIGKILL" in daemon.log_text()


def test_a_start_that_never_calls_ready_is_stopped_cleanly_and_explained(
    daemon: Daemon,
) -> None:
    began = time.monotonic()
    result = daemon.run(DMN_BLOCK="1", RELEASE_DAEMON_TIMEOUT="8", RELEASE_STOP_TIMEOUT="20")
    took = time.monotonic() - began
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    why = "application dmn has neither returned from its start nor called ctx.ready()"
    assert lines[:2] == [
        f"node dmn is not ready yet: {why}",  # said as soon as the node knew, not 8s later
        f"ERROR: node dmn did not become ready within 8s: {why}",
    ], result.stderr
    assert "call ctx.ready() once it serves" in result.stderr  # the node's hint, in the tail
    log = daemon.log_text()
    assert "SIGKILL" not in log  # it stopped when asked: nothing had to be killed
    assert "exited with status 0" in log
    assert took < 8 + 20
    assert daemon.processes() == []


def test_invalid_settings_are_refused_before_anything_starts(daemon: Daemon) -> None:
    result = daemon.run(RELEASE_LOG_SIZE="big")
    assert (result.returncode, result.stderr) == (
        1, "ERROR: RELEASE_LOG_SIZE must be a whole number greater than 0, got 'big'\n",
    )  # fmt: skip
    assert daemon.run(RELEASE_HEART="maybe").stderr.startswith("ERROR: RELEASE_HEART must be")
    assert daemon.processes() == []


# -- stopping ---------------------------------------------------------------------


def test_sigterm_to_the_node_is_a_clean_stop_heart_or_not(root: Path, tmp_path: Path) -> None:
    # A RELEASE_TMP too deep for a Unix socket path: the readiness socket goes elsewhere.
    d = Daemon(root, tmp_path / ("deep-" * 16))
    try:
        supervisor, node = d.start(RELEASE_HEART="1")
        environ = Path(f"/proc/{node}/environ").read_bytes().split(b"\0")
        notify = next(v for v in environ if v.startswith(b"NOTIFY_SOCKET="))[14:].decode()
        assert not notify.startswith(str(d.tmp)) and os.path.exists(notify)
        os.kill(node, signal.SIGTERM)
        wait_until(lambda: gone(supervisor), "the supervisor to exit")
        assert os.waitpid(supervisor, 0)[1] == 0
        log = d.log_text()
        assert f"[daemon] node (pid {node}) exited with status 0" in log
        assert "[heart]" not in log
        assert not d.pid_file.exists() and not d.supervisor_file.exists()
        assert not os.path.exists(os.path.dirname(notify))
    finally:
        d.kill_all()


def test_sigterm_to_the_supervisor_stops_the_node_and_cleans_up(daemon: Daemon) -> None:
    supervisor, node = daemon.start("daemon_iex")
    assert daemon.fifo.exists()
    os.kill(supervisor, signal.SIGTERM)
    wait_until(lambda: gone(supervisor) and gone(node), "the daemon to stop")
    log = daemon.log_text()
    assert log.index("[daemon] received SIGTERM; stopping") < log.index(
        "[node] received SIGTERM, stopping"
    )
    assert f"[daemon] node (pid {node}) exited with status 0" in log
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()
    assert list((daemon.tmp / "pipe").iterdir()) == []


def test_the_stop_command_ends_the_daemon(daemon: Daemon) -> None:
    supervisor, node = daemon.start(RELEASE_HEART="1")
    stop = daemon.run("stop")
    wait_until(lambda: gone(supervisor), "the supervisor to exit")
    assert gone(node) and "[heart]" not in daemon.log_text()
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()
    # Regression: the node used to queue the stop before replying "ok", so a fast
    # node could exit first and `stop` reported a lost connection.
    assert stop.returncode == 0, stop.stderr


def test_stop_works_after_the_supervisor_was_killed(daemon: Daemon) -> None:
    mark = daemon.tmp.parent / "stopped.mark"
    supervisor, node = daemon.start(DMN_MARK=str(mark))
    os.kill(supervisor, signal.SIGKILL)  # the node's stdout now leads nowhere
    wait_until(lambda: gone(supervisor), "the supervisor to die")
    reap()
    stop = daemon.run("stop")
    assert stop.returncode == 0, stop.stderr
    wait_until(lambda: gone(node), "the node to exit")
    assert mark.read_text() == "stopped"  # its stop callbacks ran
    assert not (daemon.tmp / "sockets" / "dmn.sock").exists()  # and it cleaned up


def test_stop_kills_a_daemon_node_stuck_in_c_code(daemon: Daemon) -> None:
    supervisor, node = daemon.start(RELEASE_HEART="1")
    rpc = subprocess.Popen(
        [str(daemon.script), "rpc", REGEX_RPC], env=daemon.env(),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert rpc.stdout is not None and rpc.stdout.readline() == "go\n"
        stop = daemon.run("stop", RELEASE_STOP_TIMEOUT="2")
        assert stop.returncode == 0, stop.stderr
        assert f"killed it with SIGKILL (pid {node})" in stop.stderr
        wait_until(lambda: gone(supervisor) and gone(node), "the daemon to end")
        assert rpc.wait(10) == 1
    finally:
        rpc.kill()
        rpc.communicate()
    assert "[heart]" not in daemon.log_text()  # a stop is not a crash: no restart
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()


def test_a_relative_release_tmp_is_the_callers(root: Path, tmp_path: Path) -> None:
    d = Daemon(root, tmp_path / "rel-tmp")
    try:
        result = d.run(cwd=tmp_path, RELEASE_TMP="rel-tmp")
        assert result.returncode == 0, result.stderr
        node = read_pid(d.pid_file)  # under the caller's directory, not RELEASE_ROOT
        environ = Path(f"/proc/{node}/environ").read_bytes().split(b"\0")
        assert f"RELEASE_TMP={d.tmp}".encode() in environ
        assert (d.tmp / "sockets").is_dir()  # the node agrees
    finally:
        d.kill_all()


def test_without_heart_a_crashed_node_is_not_restarted(daemon: Daemon) -> None:
    supervisor, node = daemon.start()
    os.kill(node, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), "the supervisor to exit")
    log = daemon.log_text()
    assert f"[daemon] node (pid {node}) exited with signal SIGKILL" in log
    assert "not restarting it: heart is off (RELEASE_HEART=1 turns it on)" in log
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()


# -- heart ------------------------------------------------------------------------


def test_heart_restarts_a_killed_node_then_gives_up(daemon: Daemon) -> None:
    settings = {"RELEASE_HEART": "1", "RELEASE_HEART_BACKOFF": "0.1",
                "RELEASE_HEART_MAX_RESTARTS": "2"}  # fmt: skip
    supervisor, node = daemon.start(**settings)
    for n, delay in ((1, "0.1"), (2, "0.2")):
        os.kill(node, signal.SIGKILL)
        wait_until(
            lambda old=node: daemon.pid_file.exists() and read_pid(daemon.pid_file) != old,
            "a new pid in the pid file",
        )
        previous, node = node, read_pid(daemon.pid_file)
        wait_until(lambda pid=node: f"node ready (pid {pid})" in daemon.log_text(), "readiness")
        assert ppid(node) == supervisor and gone(previous)
        assert (
            f"[heart] node exited with signal SIGKILL; restarting in {delay}s (restart {n} of 2)"
        ) in daemon.log_text()
    os.kill(node, signal.SIGKILL)
    wait_until(lambda: gone(supervisor), "the supervisor to give up")
    assert "[heart] node exited with signal SIGKILL; 2 restarts within 60s, giving up" in (
        daemon.log_text()
    )
    assert not daemon.pid_file.exists() and not daemon.supervisor_file.exists()
    assert daemon.processes() == []


def test_heart_back_off_doubles_up_to_a_cap_within_a_window() -> None:
    heart = Heart(backoff=1, max_restarts=8, window=60)
    delays = [heart.next_delay(now) for now in range(8)]
    assert delays == [1, 2, 4, 8, 16, 30, 30, 30]
    assert heart.next_delay(9) is None
    assert heart.next_delay(61) == 30  # the first restart left the window
    fresh = Heart(backoff=0.5, max_restarts=2, window=10)
    assert [fresh.next_delay(0), fresh.next_delay(1), fresh.next_delay(12)] == [0.5, 1, 0.5]


# -- logs -------------------------------------------------------------------------


def test_logs_rotate_cyclically_between_lines(daemon: Daemon) -> None:
    supervisor, _ = daemon.start(DMN_LINES="300", RELEASE_LOG_SIZE="2000", RELEASE_LOG_FILES="3")
    files = log_files(daemon)
    assert [f.name for f in files] == ["dmn.log.1", "dmn.log.2", "dmn.log.3"]
    numbers = []
    for f in files:
        text = f.read_text()
        lines = text.splitlines()
        assert HEADER.fullmatch(lines[0]), lines[0]
        assert len(text.encode()) <= 2000 and text.endswith("\n")
        for line in lines[1:]:
            if line.startswith("line "):
                assert re.fullmatch(r"line \d{5} x{40}", line), line  # never split
                numbers.append(int(line.split()[1]))
    newest = daemon.log.resolve()
    assert "[daemon] node ready" in newest.read_text()
    assert 299 in numbers and 0 not in numbers  # the oldest generations were reused
    numbers.sort()
    assert numbers == list(range(numbers[0], 300))  # what is kept is contiguous
    # A new run starts the generation after the newest one, with a header.
    os.kill(supervisor, signal.SIGTERM)
    wait_until(lambda: gone(supervisor), "the supervisor to exit")
    daemon.start(RELEASE_LOG_SIZE="2000", RELEASE_LOG_FILES="3")
    index = int(newest.name.rsplit(".", 1)[1])
    assert daemon.log.resolve().name == f"dmn.log.{index % 3 + 1}"
    assert HEADER.fullmatch(daemon.log.read_text().splitlines()[0])
    assert len(log_files(daemon)) == 3


def test_rotating_log_keeps_lines_whole(tmp_path: Path) -> None:
    log = logrotate.RotatingLog(str(tmp_path / "n.log"), max_size=100, max_files=3)
    log.open()
    log.write(b"a" * 30 + b"\n" + b"b" * 20)  # the partial line moves on with the rest
    log.write(b"b" * 200 + b"\n")  # longer than a file: written whole
    log.write(b"partial")
    log.line("[daemon] own line")  # on a line of its own
    assert os.readlink(tmp_path / "n.log") == "n.log.3"
    log.write(b"c" * 90 + b"\n")  # cyclic: .1 is reused
    log.close()
    header = len(logrotate.header())
    contents = [(tmp_path / f"n.log.{i}").read_bytes() for i in (1, 2, 3)]
    assert all(HEADER.fullmatch(c[: header - 1].decode()) for c in contents)
    assert [c[header:] for c in contents] == [
        b"c" * 90 + b"\n", b"b" * 220 + b"\n", b"partial\n[daemon] own line\n",
    ]  # fmt: skip
    assert os.readlink(tmp_path / "n.log") == "n.log.1"
    assert logrotate.tail(str(tmp_path / "n.log"), 3, 3) == [
        "[daemon] own line", HEADER.match(contents[0].decode()).group(0), "c" * 90,
    ]  # fmt: skip


def test_a_full_disk_loses_output_not_the_log(tmp_path: Path) -> None:
    log = logrotate.RotatingLog(str(tmp_path / "n.log"), max_size=10_000, max_files=2)
    log.open()
    real, log._fd = log._fd, os.open("/dev/full", os.O_WRONLY)  # every write: ENOSPC
    log.write(b"lost line\n")
    os.close(log._fd)
    log._fd = real
    log.write(b"kept line\n")
    log.close()
    body = (tmp_path / "n.log.1").read_text().splitlines()[1:]
    assert body == ["kept line", "[daemon] 10 bytes of output were lost: No space left on device"]


# -- daemon_iex -----------------------------------------------------------------


def test_daemon_iex_feeds_the_repl_through_the_pipe_and_attach(daemon: Daemon) -> None:
    supervisor, node = daemon.start("daemon_iex")
    assert cmdline(node)[-1] == "start_iex"
    mode = daemon.fifo.stat().st_mode
    assert stat.S_ISFIFO(mode) and stat.S_IMODE(mode) == 0o600
    with open(daemon.fifo, "w") as pipe:
        pipe.write("print('from the pipe', 6 * 7)\n")
    wait_until(lambda: "from the pipe 42" in daemon.log_text(), "the REPL's answer in the log")
    # attach(): the log's tail, then the REPL's output as lines are typed.
    out = daemon.tmp / "attach.out"
    runtime = next(daemon.root.glob("runtime-*/bin/python3.*"))
    code = (
        "import os, sys; sys.path.insert(0, sys.argv[1])\n"
        "from pyrelease.node.attach import attach\n"
        "from pyrelease.node.releaseenv import Env\n"
        "sys.exit(attach(Env(os.environ)))"
    )
    env = daemon.env(RELEASE_ROOT=str(daemon.root), RELEASE_NAME="dmn", RELEASE_VSN="1.0.0")
    with open(out, "w") as sink:
        proc = subprocess.Popen(
            [str(runtime), "-I", "-S", "-c", code, str(daemon.root / "releases/1.0.0/node")],
            stdin=subprocess.PIPE, stdout=sink, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    try:
        wait_until(lambda: "[attached to node dmn" in out.read_text(), "attach to start")
        assert "from the pipe 42" in out.read_text()  # the tail came first
        assert proc.stdin is not None
        proc.stdin.write(b"print('via attach', 2 + 3)\n")
        proc.stdin.flush()
        wait_until(lambda: "via attach 5" in out.read_text(), "the answer at the attached side")
        proc.stdin.close()  # Ctrl-D: detach
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "[detached; node dmn keeps running]" in out.read_text()
    assert not gone(node) and not gone(supervisor)


def test_attach_without_daemon_iex_says_why(daemon: Daemon) -> None:
    from pyrelease.node.attach import attach
    from pyrelease.node.releaseenv import Env

    env = Env({"RELEASE_ROOT": str(daemon.root), "RELEASE_NAME": "dmn", "RELEASE_VSN": "1.0.0",
               "RELEASE_TMP": str(daemon.tmp)})  # fmt: skip
    assert attach(env) == 1  # nothing running at all
    daemon.start()
    assert attach(env) == 1  # running, but without the input pipe


# -- other Pythons ----------------------------------------------------------------


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_daemon_on_other_pythons(version: str, tmp_path: Path) -> None:
    prefixes = sorted(Path("/root/.pyenv/versions").glob(f"{version}.*"))
    if not prefixes:
        pytest.skip(f"no CPython {version} here")
    tool = (
        f'[tool.pyrelease]\nmod = "dmn.app:start"\n'
        f'[tool.pyrelease.releases.dmn]\ninclude_runtime = "{prefixes[-1]}"\n'
    )
    project = make_dist(tmp_path, "dmn", "dmn", DMN, "[]", tool)
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    d = Daemon(project / "_build" / "prod" / "rel" / "dmn", tmp_path / "t")
    try:
        supervisor, node = d.start("daemon_iex", RELEASE_HEART="1", RELEASE_HEART_BACKOFF="0.05")
        assert f"python{version}" in cmdline(node)[0]
        with open(d.fifo, "w") as pipe:
            pipe.write("import sys; print(sys.version_info[:2])\n")
        expected = f"({version.replace('.', ', ')})"
        wait_until(lambda: expected in d.log_text(), "the REPL's answer")
        os.kill(node, signal.SIGKILL)
        wait_until(lambda: "node ready" in d.log_text().split("[heart]")[-1], "a restart")
        os.kill(supervisor, signal.SIGTERM)
        wait_until(lambda: gone(supervisor), "the supervisor to exit")
        assert d.processes() == [] and not d.fifo.exists()
    finally:
        d.kill_all()
