"""The rebuild benchmark still runs: ``benchmarks/rebuilds.py --rounds 1`` prints its
table and writes every sample (the figures themselves are in docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def test_one_round_prints_the_table_and_writes_the_samples(tmp_path: Path) -> None:
    out = tmp_path / "rebuilds.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "rebuilds.py"), "--rounds", "1",
         "--python", sys.executable, "--json", str(out)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for label in ("rebuild after `--force`", "rebuild after editing one source file",
                  "first build of a fresh copy"):  # fmt: skip
        assert label in proc.stdout
    samples = json.loads(out.read_text())["samples"]["this tree"]
    assert {k: len(v) for k, v in samples.items()} == {"force": 1, "edit": 1, "fresh": 1}
    assert all(v[0] > 0 for v in samples.values())
