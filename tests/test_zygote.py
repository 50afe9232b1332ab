"""``zygote``: the node's fork that becomes the command, driven directly with real processes.

Each case runs a small program (the real ``pyrelease.node.zygote`` on the runtime's
interpreters) that forks a zygote and plays the node's part, so that the moments
the end-to-end tests cannot time (a slow start of the fork, a watchdog gone before
the hand-over) are exercised for certain.
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
def test_cancel_does_not_wait_for_the_fork_to_finish_its_imports(
    python: str, tmp_path: Path
) -> None:
    """A command that is no Python program (or a second ``start``) is not held up by
    the fork: the node lets it go at once, however long its imports would take."""
    program = """
import os, time
from pyrelease.node import zygote

fork = zygote.fork()
assert fork is not None
if fork.pid == 0:
    fork.wait(lambda: time.sleep(120))  # the imports of `python`, made very slow
    os._exit(99)
fork.cancel()
try:
    os.kill(fork.pid, 0)
except ProcessLookupError:
    print("reaped")
"""
    assert play(python, tmp_path, program, timeout=30).strip() == "reaped"


@pytest.mark.parametrize("python", pythons())
def test_a_fork_that_cannot_join_the_watchdogs_group_runs_nothing(
    python: str, tmp_path: Path
) -> None:
    """The watchdog's group is what kills the command when the node is SIGKILLed: a
    fork that cannot be put in it must not become the command (it is spawned, and
    that fails the usual way)."""
    mark = tmp_path / "ran"
    program = f"""
import os, sys
from pyrelease.node import zygote

fork = zygote.fork()
if fork.pid == 0:
    fork.wait()
    with open({str(mark)!r}, "w") as f:  # the command would run now
        f.write(str(os.getpgid(0)))
    os._exit(0)
gone = os.fork()  # a process group that no longer exists (a watchdog gone)
if gone == 0:
    os._exit(0)
os.waitpid(gone, 0)
argv = [sys.executable, "-I", "-S", "main", "python", "-c", "pass"]
pid = fork.hand_over(argv, dict(os.environ), "/", gone)
if pid is not None:
    os.waitpid(pid, 0)
print("handed over" if pid is not None else "refused")
"""
    out = play(python, tmp_path, program, timeout=60)
    assert not mark.exists(), f"the fork ran outside the watchdog's group: {out}"
    assert out.strip().endswith("refused"), out
