"""pyrelease's build, step by step: the time between its ``* step`` lines, and which
``lib/`` folders its compile workers were given (recorded by pyrelease_probe.py)."""

from __future__ import annotations

import json
from pathlib import Path

from measure import Result
from tools import Build


def record_phases(phases: dict, build: Build) -> None:
    """Add ``build``'s phase times (ms) to ``phases``, by step name."""
    for name, ms in pyrelease_phases(build.steps[0]).items():
        phases.setdefault(name, []).append(ms)


def pyrelease_phases(result: Result) -> dict[str, float]:
    """Ms between pyrelease's ``* step`` lines (the last one runs to ``Release created``)."""
    marks = [(t, line[2:]) for t, line in result.lines if line.startswith("* ")]
    end = next((t for t, line in result.lines if line.startswith("Release created")), result.ms)
    if not marks:
        return {}
    out = {"start-up (config, lock, pip check)": marks[0][0]}
    marks[-1] = (marks[-1][0], f"{marks[-1][1]} (and the rest of the assembly)")
    for (t, name), (t_next, _) in zip(marks, [*marks[1:], (end, "")], strict=True):
        out[name] = out.get(name, 0.0) + t_next - t
    out["exit"] = result.ms - end
    return out


def probe_dirs(log: Path | None) -> list[str] | None:
    """The lib/ dirs the compile workers were given (None: the probe saw no worker)."""
    if log is None or not log.is_file():
        return None
    dirs: set[str] = set()
    for line in log.read_text().splitlines():
        dirs |= set(json.loads(line)["lib_dirs"])
    return sorted(dirs)
