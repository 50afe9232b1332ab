"""The benchmark suite still runs: ``benchmarks/run.py --quick`` against a plain venv.

The real figures come from a full run (see docs/performance.md); this only
checks that one command builds, runs and measures the demo with pyrelease and
the venv baseline, prints the tables and writes the JSON (about 40 s).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.e2e


def test_quick_run_prints_the_tables_and_writes_the_json(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick",
         "--only", "pyrelease,venv", "--python", sys.executable, "--results-dir", str(results)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### Builds (s)", "### Running the demo (ms)", "### Management commands",
                    "### Lower bounds (ms)", "### Targets"):  # fmt: skip
        assert heading in out
    assert "| pyrelease (strip) |" in out
    assert "| pyrelease (strip, embedded) |" in out
    assert "| venv |" in out

    data = json.loads((results / "latest.json").read_text())
    assert {"meta", "config", "builds", "runtime", "commands", "lower_bounds", "scaling",
            "targets", "markdown"} <= set(data)  # fmt: skip
    assert data["config"]["quick"] is True
    build = data["builds"]["pyrelease (strip)"]
    for kind in ("cold", "warm", "edit"):
        assert build[kind]["median"] > 0
    assert build["artifact"]["files"] > 0 and build["artifact"]["tgz_bytes"] > 0
    artifact = build["artifact"]
    assert 0 < artifact["txz_bytes"] < artifact["tgz_bytes"]  # the release's own .tar.xz
    assert artifact["runtime_files"] > 0 and artifact["stdlib_pruned"] > 0
    assert build["edit_observation"][0]["edited_lib_dir"] in build["edit_observation"][0]["changed"]
    row = data["runtime"]["pyrelease (strip, embedded)"]
    for key in ("start_to_200", "first_request", "tenth_request", "stop_to_gone", "hwm_kb"):
        assert row[key]["n"] == data["config"]["repeat"]
    commands = data["commands"]["pyrelease (strip, embedded)"]
    assert {"eval", "pid", "rpc", "version"} <= set(commands)
    assert commands["modules"]["pid"]["median"] > 0 and commands["imports_ms"]["rpc"]["n"] > 0
    # The names of what each command imports beyond the bare runtime's start-up.
    imported = commands["imported"]
    assert "encodings" in imported["runtime"] and "encodings" not in imported["pid"]
    assert {"_socket", "pyrelease.node.client"} <= set(imported["pid"])
    assert "pyrelease.node.evaluate" in imported["eval"]
    assert "* `pid` (" in out
    assert data["runtime"]["venv"]["start_to_200"]["median"] > 0
    statuses = {t["status"] for t in data["targets"]}
    assert statuses <= {"PASS", "MISS", "N/A"} and len(data["targets"]) == 16
