"""The benchmark suite still runs: ``benchmarks/run.py --quick`` against a plain venv, the
model (``mix release``) when Elixir is installed, and the command applications.

The real figures come from a full run (see docs/performance.md); this only
checks that one command builds, runs and measures each part, prints the tables
and writes the JSON. Nothing here needs Elixir: without ``mix`` the model is
skipped and the run says why.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Every target the run judges, PASS, MISS or N/A (N/A when its part was not run).
TARGETS = 21

pytestmark = pytest.mark.e2e


def quick_run(results: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--python",
         sys.executable, "--results-dir", str(results), *args],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip


def test_quick_run_prints_the_tables_and_writes_the_json(tmp_path: Path) -> None:
    results = tmp_path / "results"
    proc = quick_run(results, "--only", "pyrelease,venv")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### Builds (s)", "### The standard library pruned or not",
                    "### Running the demo (ms)", "### Management commands",
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
    for kind in ("cold", "warm", "force", "edit", "clone"):
        assert build[kind]["median"] > 0
    assert build["phases_force"]  # the `* step` lines of the --force rebuild, timed
    assert build["artifact"]["files"] > 0 and build["artifact"]["tgz_bytes"] > 0
    artifact = build["artifact"]
    # The tar step's bytes, in both formats.
    assert 0 < artifact["tar_step_xz_bytes"] < artifact["tar_step_gz_bytes"]
    assert artifact["txz_bytes"] == artifact["tar_step_xz_bytes"]
    assert artifact["runtime_files"] > 0 and artifact["stdlib_pruned"] > 0
    # The same release with prune_stdlib = false: a bigger runtime, nothing pruned.
    off = data["prune_off"]
    assert off["stdlib_pruned"] == 0
    assert off["runtime_files"] > artifact["runtime_files"]
    assert off["runtime_bytes"] > artifact["runtime_bytes"]
    assert off["tar_step_xz_bytes"] > artifact["tar_step_xz_bytes"]
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
    assert statuses <= {"PASS", "MISS", "N/A"} and len(data["targets"]) == TARGETS
    by_name = {t["target"]: t for t in data["targets"]}
    force = by_name["rebuild after `--force`, every cache warm ≤ 1.0 s"]
    assert force["status"] in {"PASS", "MISS"} and force["measured"].endswith(" s")
    # The model was not asked for: its column shows the reference notes, marked as such.
    assert "notes; not measured" in force["model"]


def test_quick_run_of_the_model(tmp_path: Path) -> None:
    """With ``mix`` installed the model is built and run like the others; without it the
    run skips it, says why, and still succeeds."""
    results = tmp_path / "results"
    proc = quick_run(results, "--only", "model")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads((results / "latest.json").read_text())
    assert len(data["targets"]) == TARGETS
    if shutil.which("mix") is None:
        assert "the model (`mix release`) was skipped: `mix` is not installed" in proc.stdout
        assert any("`mix` is not installed" in note for note in data["notes"])
        assert "model (mix release)" not in data["builds"]
        return
    assert "| model (mix release) |" in proc.stdout
    build = data["builds"]["model (mix release)"]
    for kind in ("cold", "warm", "edit"):
        assert build[kind]["median"] > 0
    assert build["inside"] == "ERTS" and build["artifact"]["tar_step_gz_bytes"] > 0
    row = data["runtime"]["model (mix release)"]
    assert row["stop_method"] == "bin/demo stop"
    for key in ("start_to_200", "stop_to_gone", "rss_kb"):
        assert row[key]["n"] == data["config"]["repeat"] and row[key]["median"] > 0
    commands = data["commands"]["model (mix release)"]
    for name in ("pid", "rpc", "eval", "version"):
        assert commands[name]["median"] > 0
    by_name = {t["target"]: t for t in data["targets"]}
    # pyrelease was not run: its targets are N/A, with the model's figure of this run beside.
    assert by_name["`pid` median ≤ 15 ms"]["status"] == "N/A"
    assert by_name["`pid` median ≤ 15 ms"]["model"].endswith(" ms")
    assert "not measured" not in by_name["`pid` median ≤ 15 ms"]["model"]


def test_the_model_is_skipped_with_a_reason_when_its_mix_is_missing(tmp_path: Path) -> None:
    results = tmp_path / "results"
    missing = tmp_path / "no-such" / "mix"
    proc = quick_run(results, "--only", "model", "--mix", str(missing))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reason = f"the model was skipped: {missing} (--mix) is not an executable file"
    assert reason in proc.stdout
    data = json.loads((results / "latest.json").read_text())
    assert any(reason in note for note in data["notes"]) and not data["builds"]
    assert "Traceback" not in proc.stdout + proc.stderr


def test_quick_run_of_the_command_applications(tmp_path: Path) -> None:
    """uvicorn and gunicorn as command applications, in the run's own tables."""
    results = tmp_path / "results"
    proc = quick_run(results, "--only", "services", timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "### Servers as command applications" in proc.stdout
    data = json.loads((results / "latest.json").read_text())
    for name in ("api", "web"):
        row = data["services"][name]
        assert row["release"]["n"] == row["venv"]["n"] == data["config"]["repeat"]
        assert row["ratio"]["n"] == row["release"]["n"]  # each round's release / venv
    statuses = {t["target"].split("`")[1]: t["status"] for t in data["targets"]
                if "command application" in t["target"]}  # fmt: skip
    assert set(statuses) == {"uvicorn", "gunicorn"}
    assert set(statuses.values()) <= {"PASS", "MISS"}
