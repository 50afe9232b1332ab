"""Timing helpers: commands, nodes, HTTP probes, memory, statistics.

Every duration is taken with ``time.perf_counter_ns`` and kept in milliseconds.
Every process started here runs in its own session (process group), and the
group is killed in ``finally`` blocks, so an interrupted run leaves nothing
behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: Poll interval while waiting for a node to answer (the resolution of start → 200).
POLL_S = 0.002
#: Environment variables that must not leak from the caller into the measured programs.
DROPPED_ENV_PREFIXES = ("RELEASE_", "PYTHON", "PEX_", "SHIV_", "VIRTUAL_ENV", "PIP_")


def ms_since(t0: int) -> float:
    """Milliseconds from ``t0`` (a ``perf_counter_ns`` value) to now."""
    return (time.perf_counter_ns() - t0) / 1e6


def summarize(samples: list[float], unit: str = "ms") -> dict | None:
    """Median with min and max (and the samples) of repeated measurements."""
    if not samples:
        return None
    return {
        "unit": unit,
        "n": len(samples),
        "median": round(statistics.median(samples), 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "samples": [round(s, 3) for s in samples],
    }


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without RELEASE_*, PYTHON*, PIP_*... plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(DROPPED_ENV_PREFIXES)}
    env.update(extra or {})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def group_members(pgid: int) -> list[int]:
    """Pids of the live processes in process group ``pgid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        # fields[0] is the state, fields[2] the process group; zombies are already gone.
        if int(fields[2]) == pgid and fields[0] != b"Z":
            found.append(int(entry))
    return found


def memory_kb(pids: list[int]) -> tuple[int, int]:
    """Summed VmRSS and VmHWM (peak RSS) of ``pids``, in kB."""
    rss = hwm = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                    elif line.startswith("VmHWM:"):
                        hwm += int(line.split()[1])
        except OSError:
            continue
    return rss, hwm


@dataclass
class Result:
    """One finished command."""

    argv: list[str]
    ms: float
    returncode: int
    stdout: str
    stderr: str
    maxrss_kb: int = 0
    lines: list[tuple[float, str]] = field(default_factory=list)

    def check(self, what: str) -> Result:
        if self.returncode != 0:
            tail = "\n".join((self.stdout + self.stderr).strip().splitlines()[-25:])
            raise RuntimeError(f"{what} failed (exit {self.returncode}): {self.argv}\n{tail}")
        return self


def run_timed(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
    timeout: float = 120, stdin: int = subprocess.DEVNULL,
) -> Result:  # fmt: skip
    """Run ``argv`` to completion; wall time and the peak RSS (``wait4``) of the command."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter_ns()
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=out, stderr=err, env=env, cwd=cwd, start_new_session=True
        )
        watchdog = threading.Timer(timeout, kill_group, (proc.pid,))
        watchdog.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            elapsed = ms_since(t0)
            proc.returncode = os.waitstatus_to_exitcode(status)
        finally:
            watchdog.cancel()
            kill_group(proc.pid)
            if proc.returncode is None:
                proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode == -signal.SIGKILL and elapsed >= timeout * 1000:
        stderr += f"\n(killed after the {timeout} s timeout)"
    return Result(list(argv), elapsed, proc.returncode, stdout, stderr, usage.ru_maxrss)


def run_streamed(
    argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None,
    timeout: float = 900,
) -> Result:  # fmt: skip
    """Run ``argv``; each output line (stdout and stderr) with the ms at which it arrived."""
    t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=env, cwd=cwd, start_new_session=True,
    )  # fmt: skip
    watchdog = threading.Timer(timeout, kill_group, (proc.pid,))
    watchdog.start()
    lines: list[tuple[float, str]] = []
    try:
        assert proc.stdout is not None
        for raw in proc.stdout:
            lines.append((ms_since(t0), raw.decode(errors="replace").rstrip("\n")))
        proc.wait()
        elapsed = ms_since(t0)
    finally:
        watchdog.cancel()
        kill_group(proc.pid)
        if proc.returncode is None:
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    text = "\n".join(line for _, line in lines)
    return Result(list(argv), elapsed, proc.returncode, text, "", 0, lines)


#: GNU time: the peak RSS of a command forked from a small process. (``wait4`` from this
#: process would report at least this process's own RSS: the child's high-water mark
#: starts from its parent's memory at fork time.)
GNU_TIME = Path("/usr/bin/time")


def peak_rss_kb(argv: list[str], env: dict[str, str] | None = None) -> int | None:
    """Peak RSS of ``argv`` in kB (None without GNU time)."""
    if not GNU_TIME.is_file():
        return None
    with tempfile.NamedTemporaryFile("r") as out:
        run_timed([str(GNU_TIME), "-f", "%M", "-o", out.name, *argv], env=env).check(argv[-1])
        return int(out.read().split()[-1])


def http_get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes, float]:
    """One GET on a fresh connection: status, body and the ms it took."""
    t0 = time.perf_counter_ns()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
    finally:
        conn.close()
    return resp.status, body, ms_since(t0)


class Node:
    """A long-running server process in its own process group, logging to a file."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None):
        self.argv, self.env, self.log_path, self.cwd = argv, env, log, cwd
        self.proc: subprocess.Popen | None = None
        self.t0 = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.t0 = time.perf_counter_ns()
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=self.env, cwd=self.cwd, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, port: int, path: str = "/health", timeout: float = 60) -> float:
        """Ms from ``start()`` to the first 200 on ``path``."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.argv[0]} exited ({self.proc.returncode}) before answering:\n"
                    + self.log()[-3000:]
                )
            try:
                status, _, _ = http_get(port, path, timeout=2)
            except OSError:
                time.sleep(POLL_S)
                continue
            if status == 200:
                return ms_since(self.t0)
            time.sleep(POLL_S)
        raise RuntimeError(f"{self.argv} did not answer within {timeout} s:\n{self.log()[-3000:]}")

    def memory_kb(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) summed over the node's process group."""
        return memory_kb(group_members(self.pid))

    def wait_gone(self, t0: int, timeout: float = 30) -> float:
        """Ms from ``t0`` until the node and everything in its group has exited."""
        assert self.proc is not None
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"{self.argv} still running {timeout} s after the stop") from None
        while group_members(self.pid):
            if ms_since(t0) > timeout * 1000:
                raise RuntimeError(f"processes of {self.argv} left after the stop")
            time.sleep(0.001)
        return ms_since(t0)

    def terminate(self) -> float:
        """SIGTERM → every process of the node gone, in ms."""
        t0 = time.perf_counter_ns()
        os.kill(self.pid, signal.SIGTERM)
        return self.wait_gone(t0)

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            kill_group(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        kill_group(self.pid)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


@contextlib.contextmanager
def running(
    argv: list[str], env: dict[str, str], log: Path, cwd: Path | None = None
) -> Iterator[Node]:
    node = Node(argv, env, log, cwd)
    try:
        node.start()
        yield node
    finally:
        node.close()


def tree_stats(root: Path) -> dict:
    """Files, bytes (apparent) and disk usage of a file or directory."""
    if root.is_file():
        st = root.stat()
        return {"files": 1, "bytes": st.st_size, "disk_bytes": st.st_blocks * 512}
    files = size = disk = 0
    for dirpath, _, filenames in os.walk(root):
        disk += os.lstat(dirpath).st_blocks * 512
        for name in filenames:
            st = os.lstat(os.path.join(dirpath, name))
            files += 1
            size += st.st_size
            disk += st.st_blocks * 512
    return {"files": files, "bytes": size, "disk_bytes": disk}


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """(inode, sha256) of every file below ``root``, by relative path."""
    out = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = os.path.join(dirpath, name)
            with open(path, "rb") as f:
                digest = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(path, root)] = (os.lstat(path).st_ino, digest)
    return out


def changed_top_dirs(
    before: dict[str, tuple[int, str]], after: dict[str, tuple[int, str]]
) -> tuple[list[str], list[str]]:
    """Top-level entries whose files were rewritten (new inode) and whose content changed."""
    rewritten, changed = set(), set()
    for rel in before.keys() | after.keys():
        top = rel.split(os.sep)[0]
        old, new = before.get(rel), after.get(rel)
        if old is None or new is None or old[0] != new[0]:
            rewritten.add(top)
        if old is None or new is None or old[1] != new[1]:
            changed.add(top)
    return sorted(rewritten), sorted(changed)


def importtime_top(text: str) -> list[tuple[str, float]]:
    """Top-level imports (name, cumulative ms) from ``-X importtime`` output, in import order.

    Top-level entries are disjoint: together they are all the import time of the process.
    """
    top = []
    for line in text.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith("   "):  # one space after the bar; nested imports indent more
            top.append((name.strip(), int(cumulative) / 1000))
    return top


def importtime_names(text: str) -> list[str]:
    """Every module ``-X importtime`` output lists (nested ones too), in import order."""
    names = []
    for line in text.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            names.append(line.rsplit("|", 1)[1].strip())
    return names


def machine() -> dict:
    """nproc, CPU model, memory and kernel of this machine."""
    info: dict = {"nproc": os.cpu_count(), "kernel": os.uname().release}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                info["memory_gib"] = round(int(line.split()[1]) / 1024 / 1024, 1)
    return info


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []
