"""The Markdown tables and the JSON file of one benchmark run (the targets: targets.py).

Every figure is shown as ``median [min-max]`` of the repeated runs, and
beside it as a ratio to the baseline (the plain venv) measured in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

from targets import (
    BASELINE_BUILD,
    BASELINE_ROW,
    DASH,
    MAIN_BUILD,
    MIB,
    MODEL,
    MODEL_LABEL,
    SERVICES_RATIO,
    TIMES,
    cell,
    evaluate,
    fmt,
    mb,
    med,
    ratio,
)

__all__ = ["MAIN_BUILD", "evaluate", "markdown", "write_json"]

# --- Markdown ---------------------------------------------------------------


def markdown(r: dict) -> str:
    meta = r["meta"]
    m = meta["machine"]
    lines = [
        f"## pyrelease benchmarks, {meta['date']}",
        "",
        f"{m.get('nproc')} CPUs ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB, "
        f"Linux {m.get('kernel')}; {meta['versions'].get('host_python', '?')}; "
        + (
            f"the model: {meta['versions']['elixir']}, {meta['versions'].get('erlang', '?')}; "
            if "elixir" in meta["versions"]
            else ""
        )
        + f"load average {meta['load_before']} before, {meta['load_after']} after. "
        f"Runtime figures: {r['config']['repeat']} runs each; builds: "
        f"{r['config']['build_repeat']} each. Cells: median [min{DASH}max] {TIMES}ratio to venv.",
        "",
    ]
    lines += _builds_table(r)
    lines += _prune_table(r)
    lines += _runtime_table(r)
    lines += _commands_table(r)
    lines += _services_table(r)
    lines += _boot_profile_table(r)
    lines += _lower_bounds_table(r)
    lines += _scaling_table(r)
    lines += _targets_table(r)
    for note in r.get("notes", []):
        lines.append(f"* {note}")
    return "\n".join(lines).rstrip() + "\n"


def _builds_table(r: dict) -> list[str]:
    builds = r.get("builds", {})
    if not builds:
        return []
    base = builds.get(BASELINE_BUILD, {})
    lines = [
        "### Builds (s)",
        "",
        "| tool | cold | warm, nothing changed | `--force`, caches warm | one file edited "
        "| fresh clone, caches warm | size MB | `tar -czf` MB | `tar` step: .tar.gz / .tar.xz MiB "
        "| files | runtime MB (files) | stdlib modules pruned | runtime inside |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, b in builds.items():
        a = b["artifact"]
        lines.append(
            f"| {label} | {cell(b['cold'], base.get('cold'), 1000, 2)} "
            f"| {cell(b['warm'], base.get('warm'), 1000, 2)} "
            f"| {fmt(b.get('force'), 1000, 2)} "
            f"| {cell(b['edit'], base.get('edit'), 1000, 2)} "
            f"| {fmt(b.get('clone'), 1000, 2)} "
            f"| {mb(a['bytes'])} | {mb(a['tgz_bytes'])} | {_tar_step_cell(a)} "
            f"| {a['files']} | {_runtime_cell(a)} | {a.get('stdlib_pruned', DASH)} "
            f"| {_inside(b)} |"
        )
    lines += [""]
    model = builds.get(MODEL_LABEL)
    if model:
        step = model["artifact"].get("tar_step_build_ms")
        warm = med(model.get("warm"))
        extra = "" if step is None or warm is None else f" (+{(step - warm) / 1000:.2f} s)"
        lines += [
            "Model: warm is `mix release --overwrite` with everything compiled, which assembles "
            "the whole release again (the counterpart of pyrelease's `--force`); cold compiles "
            "the project from a fresh copy; its `tar` step is `mix release` with `:tar`"
            f"{extra}.",
            "",
        ]
    else:
        lines += [
            f"Model (`mix release`, not measured in this run; reference notes): "
            f"{MODEL['assembly']}; {MODEL['release']}, tarball {MODEL['tarball']}.",
            "",
        ]
    return lines


def _inside(b: dict) -> str:
    inside = b.get("inside") or ("Python" if b.get("bundles_python") else "")
    return inside or "no (host Python)"


def _tar_step_cell(a: dict) -> str:
    gz = a.get("tar_step_gz_bytes")
    xz = a.get("tar_step_xz_bytes")
    if gz is None and xz is None:
        return DASH
    return " / ".join(DASH if n is None else f"{n / MIB:.2f}" for n in (gz, xz))


def _runtime_cell(a: dict) -> str:
    if "runtime_bytes" not in a:
        return DASH
    return f"{a['runtime_bytes'] / 1e6:.1f} ({a['runtime_files']})"


def _prune_table(r: dict) -> list[str]:
    off = r.get("prune_off")
    main = r.get("builds", {}).get(MAIN_BUILD)
    if not off or not main:
        return []
    on = main["artifact"]
    lines = [
        "### The standard library pruned or not (pyrelease (strip))",
        "",
        "| `prune_stdlib` | runtime MB | runtime files | stdlib modules pruned | release MB "
        "| release files | .tar.gz MiB | .tar.xz MiB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, a in (("true (default)", on), ("false", off)):
        lines.append(
            f"| {name} | {mb(a.get('runtime_bytes'))} | {a.get('runtime_files', DASH)} "
            f"| {a.get('stdlib_pruned', DASH)} | {mb(a['bytes'])} | {a['files']} "
            f"| {a['tar_step_gz_bytes'] / MIB:.2f} | {a['tar_step_xz_bytes'] / MIB:.2f} |"
        )
    return [*lines, "", "Tarballs written by pyrelease's own writer (the `tar` step's bytes).", ""]


def _runtime_table(r: dict) -> list[str]:
    rt = r.get("runtime", {})
    if not rt:
        return []
    base = rt.get(BASELINE_ROW, {})
    lines = [
        "### Running the demo (ms)",
        "",
        "| tool, mode | start → first 200 | start → first `/` served | 1st request after ready "
        "| 10th request | stop → gone | idle RSS MB (peak) |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, row in rt.items():
        stop = cell(row["stop_to_gone"], base.get("stop_to_gone"))
        if row["stop_method"] != "SIGTERM":
            stop += " (`stop`)"
        lines.append(
            f"| {label} | {cell(row['start_to_200'], base.get('start_to_200'))} "
            f"| {cell(row['start_to_first_page'], base.get('start_to_first_page'))} "
            f"| {cell(row['first_request'], base.get('first_request'), digits=2)} "
            f"| {cell(row['tenth_request'], base.get('tenth_request'), digits=2)} "
            f"| {stop} | {fmt(row['rss_kb'], 1024)} ({fmt(row['hwm_kb'], 1024)}) |"
        )
    lines += [
        "",
        "start → first 200: `GET /health` polled every 2 ms; start → first `/` served: "
        "then one `GET /` (the page that needs `demo.views` and its C extension, imported "
        "lazily unless preloaded). "
        "stop → gone: SIGTERM to the process, except `(stop)`: `bin/demo stop` (a client "
        "process that connects, authenticates and asks) until the node's process is gone. "
        + (
            "The model's node: `bin/demo start` (Erlang distribution on, epmd on a private port), "
            "stopped with `bin/demo stop`; its idle RSS is the VM with `erl_child_setup`."
            if MODEL_LABEL in rt
            else f"Model (not measured; reference notes): start → answer {MODEL['start_to_200']}, "
            f"stop → gone {MODEL['stop_to_gone']}, idle node {MODEL['idle_rss']}."
        ),
        "",
    ]
    return lines


def _commands_table(r: dict) -> list[str]:
    cmds = r.get("commands", {})
    if not cmds:
        return []
    lines = [
        "### Management commands (ms)",
        "",
        "| release, mode | version | pid | eval | rpc | peak RSS MB: pid / eval / rpc "
        "| imports under `-X importtime`, ms (modules): pid / eval / rpc |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, c in cmds.items():
        rss = " / ".join(fmt(c["maxrss_kb"].get(k), 1024) for k in ("pid", "eval", "rpc"))
        imports = " / ".join(
            f"{fmt(c.get('imports_ms', {}).get(k))} ({fmt(c.get('modules', {}).get(k), digits=0)})"
            for k in ("pid", "eval", "rpc")
        )
        if not c.get("imports_ms", {}).get("pid"):
            imports = DASH  # measured for Python only
        lines.append(
            f"| {label} | {fmt(c.get('version'))} | {fmt(c.get('pid'))} | {fmt(c.get('eval'))} "
            f"| {fmt(c.get('rpc'))} | {rss} | {imports} |"
        )
    floor = r.get("lower_bounds_rss_kb", {}).get("release runtime -I -S -c pass")
    floor_text = (
        ""
        if floor is None
        else f" Peak RSS of the bundled `python -I -S -c pass`: {floor / 1024:.1f} MB."
    )
    model = (
        "The model's `eval` boots a VM without distribution; `pid`, `rpc` and `stop` each boot "
        "a VM that connects to the node over Erlang distribution."
        if MODEL_LABEL in cmds
        else f"Model (not measured; reference notes): `version` {MODEL['version']}; `eval`, "
        f"`rpc`, `pid`, `stop` {MODEL['command']} each (each boots a full VM)."
    )
    lines += ["", f"{model}{floor_text}", ""]
    lines += _imported_lines(cmds)
    return lines


def _services_table(r: dict) -> list[str]:
    found = r.get("services")
    if not found:
        return []
    lines = [
        "### Servers as command applications: start → first 200 on `/` (ms)",
        "",
        f"| command | release | venv | ratio (target ≤ {SERVICES_RATIO}) | CPU release / venv |",
        "|---|---|---|---|---|",
    ]
    for row in found.values():
        # The median of the rounds' ratios (see services.py); older results: of the medians.
        times = row.get("ratio")
        shown = f" {TIMES}{times['median']:.2f}" if times else ratio(row["release"], row["venv"])
        lines.append(
            f"| `{row['command']}` | {fmt(row['release'])} | {fmt(row['venv'])} |{shown} "
            f"| {fmt(row.get('release cpu'))} / {fmt(row.get('venv cpu'))} |"
        )
    note = (
        "Same wheels, same Python; release and venv starts interleaved; the ratio is the "
        "median of the rounds' release / venv."
    )
    return [*lines, "", note, ""]


def _imported_lines(cmds: dict) -> list[str]:
    """What each command imports beyond the bare runtime's start-up (one row's)."""
    for label, c in cmds.items():
        imported = c.get("imported") or {}
        if not any(imported.get(k) for k in ("pid", "eval", "rpc")):
            continue
        lines = [
            f"What the commands import under `-X importtime` ({label}), beyond the "
            f"{len(imported.get('runtime', []))} modules of the bare runtime's own start-up:",
            "",
        ]
        for k in ("pid", "rpc", "eval"):
            names = imported.get(k, [])
            lines.append(f"* `{k}` ({len(names)}): " + ", ".join(f"`{n}`" for n in names))
        return [*lines, ""]
    return []


def _boot_profile_table(r: dict) -> list[str]:
    prof = r.get("boot_profile") or {}
    if not prof:
        return []
    lines = [
        "### Imports at boot (one start under `-X importtime`, which inflates them; ms)",
        "",
        "| start | all imports | by origin | slowest top-level imports |",
        "|---|---|---|---|",
    ]
    for label, p in prof.items():
        origin = ", ".join(f"{k} {v:.0f}" for k, v in p["by_origin_ms"].items())
        slow = ", ".join(f"{name} {ms:.0f}" for name, ms in p["slowest_top_level"][:6])
        lines.append(f"| {label} | {p['total_ms']:.0f} | {origin} | {slow} |")
    return [*lines, ""]


def _lower_bounds_table(r: dict) -> list[str]:
    lower = r.get("lower_bounds", {})
    if not lower:
        return []
    lines = ["### Lower bounds (ms)", "", f"| what | median [min{DASH}max] |", "|---|---|"]
    lines += [f"| {name} | {fmt(stat)} |" for name, stat in lower.items()]
    return [*lines, ""]


def _scaling_table(r: dict) -> list[str]:
    s = r.get("scaling")
    if not s or not s.get("rows"):
        return []
    lines = [
        "### Scaling: a synthetic app with N distributions",
        "",
        "| N | lib/ dirs | pyrelease build cold / warm (s) | venv build (s) "
        "| start → 200: release / venv (ms) | import all N in-process: release / venv (ms) "
        "| `eval` / `python -I -c` process (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for n, row in s["rows"].items():
        b = row["build"]
        lines.append(
            f"| {n} | {row['lib_dirs']} | {fmt(b['pyrelease_cold'], 1000, 2)} / "
            f"{fmt(b['pyrelease_warm'], 1000, 2)} | {fmt(b['venv_cold'], 1000, 2)} "
            f"| {fmt(row['boot_release'])} / {fmt(row['boot_venv'])} "
            f"| {fmt(row['import_release'], digits=2)} / {fmt(row['import_venv'], digits=2)}"
            f"{ratio(row['import_release'], row['import_venv'])} "
            f"| {fmt(row['eval_process_release'])} / {fmt(row['python_process_venv'])} |"
        )
    lines += ["", "Scaling builds reuse a warm runtime cache: they show growth with N.", ""]
    return lines


def _targets_table(r: dict) -> list[str]:
    lines = [
        "### Targets",
        "",
        "| target | limit | measured | status | model, same run | why |",
        "|---|---|---|---|---|---|",
    ]
    for t in r.get("targets", []):
        lines.append(
            f"| {t['target']} | {t['limit']} | {t['measured']} | **{t['status']}** "
            f"| {t.get('model') or DASH} | {t['why']} |"
        )
    return [*lines, ""]


def write_json(r: dict, results_dir: Path, stamp: str) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"bench-{stamp}.json"
    text = json.dumps(r, indent=2, sort_keys=False) + "\n"
    path.write_text(text)
    (results_dir / "latest.json").write_text(text)
    (results_dir / "latest.md").write_text(r["markdown"])
    return path
