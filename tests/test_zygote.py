"""``zygote``: the node's fork that becomes the command, driven directly with real processes.

Each case runs a small program (the real ``pyrelease.node.zygote`` on the runtime's
interpreters) that plays the node's part, so that the moments the end-to-end tests
cannot time (a watchdog gone before the fork) are exercised for certain.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "src"
PYENV = Path("/root/.pyenv/versions")

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")


def pythons() -> list[str]:
    found = [sys.executable]
    for version in ("3.12", "3.13"):
        match = sorted(PYENV.glob(f"{version}.*/bin/python{version}"))
        if match:
            found.append(str(match[-1]))
    return found


def release_root(tmp_path: Path) -> Path:
    """A release root with ``releases/1.0.0/start.command``: what makes ``start`` fork."""
    root = tmp_path / "rel"
    (root / "releases" / "1.0.0").mkdir(parents=True)
    (root / "releases" / "1.0.0" / "start.command").write_text("{}")
    return root


def play(python: str, tmp_path: Path, program: str, timeout: float) -> str:
    """Run ``program`` (the node's part) in a session of its own; kill it all if it hangs."""
    script = tmp_path / "play.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(SRC)!r})\n{program}")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "RELEASE_ROOT": str(release_root(tmp_path)),
        "RELEASE_VSN": "1.0.0",
    }
    proc = subprocess.Popen(
        [python, "-I", "-S", str(script)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"the node's part did not finish within {timeout}s:\n{out}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # a fork left behind, if any
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, out
    return out


@pytest.mark.parametrize("python", pythons())
def test_a_fork_that_cannot_join_the_watchdogs_group_runs_nothing(
    python: str, tmp_path: Path
) -> None:
    """The watchdog's group is what kills the command when the node is SIGKILLed: a
    forked child that cannot join it must not run the command; it ends with status
    126 and says why."""
    mark = tmp_path / "ran"
    program = f"""
import os, sys
from pyrelease.node import zygote

gone = os.fork()  # a process group that no longer exists (a watchdog gone)
if gone == 0:
    os._exit(0)
os.waitpid(gone, 0)
argv = [sys.executable, "-I", "-S", "main", "python", "-c", "pass"]
pid = zygote.fork_command(argv, dict(os.environ), "/", gone)
if pid == 0:
    with open({str(mark)!r}, "w") as f:  # the command would run now
        f.write(str(os.getpgid(0)))
    os._exit(0)
_, status = os.waitpid(pid, 0)
print("status", os.waitstatus_to_exitcode(status))
"""
    out = play(python, tmp_path, program, timeout=60)
    assert not mark.exists(), f"the child ran outside the watchdog's group: {out}"
    assert out.strip().endswith("status 126"), out
    assert "cannot join the process group" in out, out


@pytest.mark.parametrize("python", pythons())
def test_the_child_is_in_the_group_before_the_node_goes_on(python: str, tmp_path: Path) -> None:
    """However the two processes are scheduled, the child is in the watchdog's group
    when ``fork_command`` returns in the node (as ``posix_spawn``'s ``setpgroup``
    makes it), and in the child before anything of the command runs."""
    program = """
import os, signal, sys, time
from pyrelease.node import zygote

leader = os.fork()  # stands for the watchdog: the leader of a new group
if leader == 0:
    os.setpgid(0, 0)
    time.sleep(60)
    os._exit(0)
os.setpgid(leader, leader)
argv = [sys.executable, "-I", "-S", "main", "python", "-c", "pass"]
for _ in range(20):
    pid = zygote.fork_command(argv, dict(os.environ), "/", leader)
    if pid == 0:
        os._exit(0 if os.getpgid(0) == leader else 3)
    assert os.getpgid(pid) == leader, "not in the group yet"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, status
os.kill(leader, signal.SIGKILL)
os.waitpid(leader, 0)
print("in the group")
"""
    assert play(python, tmp_path, program, timeout=60).strip() == "in the group"


@pytest.mark.parametrize("python", pythons())
def test_what_the_node_wrote_before_the_fork_is_written_once(python: str, tmp_path: Path) -> None:
    """Output the node has buffered when it forks is the node's: the child, which
    exits through the interpreter's finalization like any program, must not write
    it a second time."""
    out = tmp_path / "out.txt"
    program = f"""
import os, signal, sys
from pyrelease.node import zygote

os.dup2(os.open({str(out)!r}, os.O_WRONLY | os.O_CREAT), 1)
sys.stdout = open(1, "w", closefd=False)  # block-buffered, as the node's log file is
print("the node's line")
leader = os.fork()
if leader == 0:
    os.setpgid(0, 0)
    signal.pause()  # until killed: it writes nothing
os.setpgid(leader, leader)
argv = [sys.executable, "-I", "-S", "main", "python", "-c", "pass"]
pid = zygote.fork_command(argv, dict(os.environ), "/", leader)
if pid == 0:
    sys.exit(0)  # the command ends: finalization flushes what it has
_, status = os.waitpid(pid, 0)
os.kill(leader, 9)
os.waitpid(leader, 0)
sys.stdout.flush()
"""
    play(python, tmp_path, program, timeout=60)
    assert out.read_text() == "the node's line\n"
