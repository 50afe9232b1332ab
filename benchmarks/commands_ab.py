"""Management commands of two releases, side by side, in interleaved rounds.

Compares the ``pid``, ``rpc``, ``eval`` and ``version`` commands (and, with
``--stop``, ``stop`` → gone) of two built releases of the example, say one
built from ``main`` and one from a branch, against the bundled interpreter's
floor (``python -I -S -c pass``) in the same rounds. Each round runs every
command once, in alternating order, so a busy machine slows both alike. For
each command: the median and fastest wall time, and the median CPU time
(user + system of the command and what it waited for)::

    .venv/bin/python benchmarks/commands_ab.py A/_build/prod/rel/demo B/_build/prod/rel/demo

Both releases' nodes are started here (``bin/demo daemon``, ``PORT`` 4201 and
4202 unless ``--port``) and stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = {"pid": ["pid"], "rpc": ["rpc", "1"], "eval": ["eval", "1"], "version": ["version"]}


def timed(argv: list[str]) -> tuple[float, float]:
    """Wall and CPU milliseconds of one run of ``argv``; raise when it fails."""
    began = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = (time.perf_counter() - began) * 1000
    if os.waitstatus_to_exitcode(status) != 0:
        assert proc.stderr is not None
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.read().decode()[-500:]}")
    return wall, (usage.ru_utime + usage.ru_stime) * 1000


def daemon(root: Path, port: int) -> None:
    env = {**os.environ, "PORT": str(port)}
    subprocess.run([str(root / "bin" / "demo"), "daemon"], env=env, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def report(samples: dict[str, list[tuple[float, float]]]) -> None:
    print("| command | wall median | wall fastest | CPU median |")
    print("|---|---|---|---|")
    for name, values in samples.items():
        wall = [w for w, _ in values]
        cpu = [c for _, c in values]
        print(f"| {name} | {statistics.median(wall):.1f} | {min(wall):.1f} "
              f"| {statistics.median(cpu):.1f} |")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("a", type=Path, help="the first release's root (A)")
    parser.add_argument("b", type=Path, help="the second release's root (B)")
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--stop", type=int, default=0, metavar="N", help="N rounds of stop")
    parser.add_argument("--port", type=int, default=4201, help="A's PORT (B: the next one)")
    args = parser.parse_args(argv)
    roots = {"A": args.a.resolve(), "B": args.b.resolve()}
    floor = sorted(roots["B"].glob("runtime-*/bin/python3.[0-9]*"))
    runs: dict[str, list[str]] = {}
    if floor:
        runs["floor"] = [str(floor[0]), "-I", "-S", "-c", "pass"]
    for name, rest in COMMANDS.items():
        for side, root in roots.items():
            runs[f"{side} {name}"] = [str(root / "bin" / "demo"), *rest]
    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    for i, root in enumerate(roots.values()):
        daemon(root, args.port + i)
    try:
        order = list(runs)
        for r in range(args.rounds):
            for name in order if r % 2 == 0 else order[::-1]:
                samples[name].append(timed(runs[name]))
    finally:
        for root in roots.values():
            subprocess.run([str(root / "bin" / "demo"), "stop"], capture_output=True)
    for r in range(args.stop):
        for i, root in enumerate(roots.values()):
            daemon(root, args.port + i)
        sides = list(roots) if r % 2 == 0 else list(roots)[::-1]
        for side in sides:
            samples.setdefault(f"{side} stop", []).append(
                timed([str(roots[side] / "bin" / "demo"), "stop"])
            )
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    report(samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
