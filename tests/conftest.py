"""Session-wide guard: every process a test started from a release under the
test temp directory must be gone when the session ends."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


def _ancestors() -> set[int]:
    """This process and those that started it (their command line may name
    the temp directory, as in ``timeout 600 pytest --basetemp DIR``)."""
    pids, pid = set(), os.getpid()
    while pid > 1 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _leftovers(base: str) -> dict[int, str]:
    found = {}
    mine = _ancestors()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if base in cmdline and state != "Z":
            found[int(entry.name)] = cmdline.strip()
    return found


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = str(tmp_path_factory.getbasetemp())
    # A release's default data directory is under XDG_DATA_HOME: keep the tests' out of $HOME.
    os.environ.setdefault("XDG_DATA_HOME", os.path.join(base, "xdg-data"))
    yield
    if not Path("/proc").is_dir():
        return
    deadline = time.monotonic() + 5
    left = _leftovers(base)
    while left and time.monotonic() < deadline:
        time.sleep(0.1)
        left = _leftovers(base)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"processes left behind by the tests: {left}"
