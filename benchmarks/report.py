"""The targets, the Markdown tables and the JSON file of one benchmark run.

Every figure is shown as ``median [min-max]`` of the repeated runs, and
beside it as a ratio to the baseline (the plain venv) measured in the same run.
"""

from __future__ import annotations

import json
from pathlib import Path

#: The pyrelease configuration the targets are about: default strip, embedded mode.
MAIN_BUILD = "pyrelease (strip)"
MAIN_ROW = "pyrelease (strip, embedded)"
#: Interactive mode imports lazily, as the venv does: the like-for-like start comparison.
LAZY_ROW = "pyrelease (strip, interactive)"
BASELINE_BUILD = BASELINE_ROW = "venv"
PYINSTALLER = "PyInstaller onedir"
#: "No slower" is judged on medians with this allowance for timer and scheduler noise.
FIRST_REQUEST_ALLOWANCE_MS = 0.5
IMPORT_ALLOWANCE = 1.05
#: En dash and multiplication sign, spelled out so the source stays ASCII-unambiguous.
DASH, TIMES = "\u2013", "\u00d7"
#: The model's figures (shared/reference/mix-release-behaviour.md, "Figures to beat").
MODEL = {
    "start_to_200": f"260{DASH}280 ms",
    "version": "6 ms",
    "command": f"130{DASH}165 ms",
    "stop_to_gone": "1.3 s",
    "idle_rss": "~104 MB",
    "tarball": "5.2 MiB",
    "release": "12 MB, 608 files",
    "assembly": f"0.8 s warm / 0.75{DASH}1.0 s cold",
}


def med(stat: dict | None) -> float | None:
    return None if not stat else stat["median"]


def fmt(stat: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    """``median [min-max]`` (or the single value), divided by ``scale``."""
    if not stat:
        return DASH
    m, lo, hi = stat["median"] / scale, stat["min"] / scale, stat["max"] / scale
    if stat["n"] == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} [{lo:.{digits}f}{DASH}{hi:.{digits}f}]"


def ratio(stat: dict | None, base: dict | None) -> str:
    if not stat or not base or not base["median"]:
        return ""
    return f" {TIMES}{stat['median'] / base['median']:.2f}"


def cell(stat: dict | None, base: dict | None, scale: float = 1.0, digits: int = 1) -> str:
    return fmt(stat, scale, digits) + ratio(stat, base)


def mb(n: float | None) -> str:
    return DASH if n is None else f"{n / 1e6:.1f}"


# --- targets ----------------------------------------------------------------


def _target(what: str, limit: str, measured: str, ok: bool | None, why: str = "") -> dict:
    status = "N/A" if ok is None else ("PASS" if ok else "MISS")
    return {"target": what, "limit": limit, "measured": measured, "status": status, "why": why}


def evaluate(r: dict) -> list[dict]:
    """PASS/MISS for each target of issue 4, with the numbers behind it."""
    rt, builds, cmds = r.get("runtime", {}), r.get("builds", {}), r.get("commands", {})
    main, base, pyi = rt.get(MAIN_ROW), rt.get(BASELINE_ROW), rt.get(PYINSTALLER)
    prof = r.get("boot_profile", {})
    out = [
        _start_target(rt.get(LAZY_ROW), base, pyi, prof, "start_to_200"),
        _start_target(main, base, pyi, prof, "start_to_first_page"),
        _first_request_target(main),
    ]
    main_cmds = cmds.get(MAIN_ROW, {})
    for name in ("eval", "pid", "rpc"):
        v = med(main_cmds.get(name))
        out.append(
            _target(
                f"`{name}` median < 60 ms",
                "60 ms",
                _ms(v),
                None if v is None else v < 60,
                "" if v is None or v < 60 else _command_why(r, v),
            )
        )
    v = med(main_cmds.get("version"))
    why = "" if v is None or v < 10 else "the sh script itself: see /bin/sh in the lower bounds"
    out.append(
        _target("`version` median < 10 ms", "10 ms", _ms(v), None if v is None else v < 10, why)
    )
    v = med(main.get("stop_to_gone")) if main else None
    out.append(
        _target(
            "`stop` → OS process gone < 300 ms", "300 ms", _ms(v), None if v is None else v < 300
        )
    )
    out.append(_warm_target(builds.get(MAIN_BUILD), r.get("lower_bounds", {})))
    out.append(_edit_target(builds.get(MAIN_BUILD)))
    out.append(_import_target(r.get("scaling")))
    out.append(_tarball_target(builds.get(MAIN_BUILD), builds.get(PYINSTALLER)))
    # The later targets: commands near the interpreter's floor, a tarball under the model's.
    for name in ("pid", "rpc", "eval"):
        v = med(main_cmds.get(name))
        floor = med(r.get("lower_bounds", {}).get("release runtime -I -S -c pass"))
        why = ""
        if floor and v is not None:  # on a busy machine the floor itself is over the limit
            why = f"{v / floor:.1f}x the bundled `python -I -S -c pass` ({floor:.1f} ms)"
        out.append(_target(f"`{name}` median ≤ 15 ms", "15 ms", _ms(v),
                           None if v is None else v <= 15, why))  # fmt: skip
    out.append(_xz_target(builds.get(MAIN_BUILD)))
    return out


MIB = 1024 * 1024


def _xz_target(build: dict | None) -> dict:
    what = "the `tar` step's default artifact (`.tar.xz`, with runtime) ≤ 5.0 MiB"
    a = (build or {}).get("artifact", {})
    if "txz_bytes" not in a:
        return _target(what, "5.0 MiB", DASH, None)
    size = a["txz_bytes"] / MIB
    why = f"model {MODEL['tarball']}; `.tar.gz` of the same release {a['tgz_bytes'] / MIB:.1f} MiB"
    return _target(what, "5.0 MiB", f"{size:.2f} MiB", size <= 5.0, why)


def _ms(v: float | None) -> str:
    return DASH if v is None else f"{v:.1f} ms"


#: What each start target compares: the same work in pyrelease and in the venv.
START_TARGETS = {
    "start_to_200": "`start` → first 200 ≤ 1.15x venv and < PyInstaller onedir "
    "(interactive: modules imported on demand, as in the venv)",
    "start_to_first_page": "`start` → first `/` served ≤ 1.15x venv and < PyInstaller onedir "
    "(embedded: `demo.views` and its C extension imported before ready in pyrelease, "
    "at the first `/` elsewhere)",
}


def _start_target(
    main: dict | None, base: dict | None, pyi: dict | None, prof: dict, key: str
) -> dict:
    what = START_TARGETS[key]
    if not main or not base:
        return _target(what, "1.15x venv", DASH, None, "needs pyrelease and venv")
    v, b = med(main[key]), med(base[key])
    assert v is not None and b is not None
    limit = 1.15 * b
    p = med(pyi[key]) if pyi else None
    ok = v <= limit and (p is None or v < p)
    parts = []
    if v > limit:
        parts.append(f"{v / b:.2f}x venv ({b:.0f} ms)")
    if p is not None and v >= p:
        parts.append(f"not faster than PyInstaller onedir ({p:.0f} ms)")
    boot = med(main.get("reported_boot"))
    if parts and boot is not None:
        parts.append(f"the node itself reports {boot:.0f} ms from interpreter start to ready")
    if parts and prof.get(MAIN_BUILD):
        mine, theirs = prof[MAIN_BUILD], prof.get(BASELINE_BUILD, {})
        origin = ", ".join(f"{k} {v:.0f} ms" for k, v in mine["by_origin_ms"].items())
        parts.append(
            f"imports at boot under -X importtime: {mine['total_ms']:.0f} ms ({origin})"
            + (f" vs venv {theirs['total_ms']:.0f} ms" if theirs else "")
        )
    if p is None:
        parts.append("PyInstaller not measured")
    if key == "start_to_first_page":
        ready = med(main.get("start_to_200"))
        if ready is not None:
            parts.append(f"ready (first 200) after {ready:.0f} ms, {ready / b:.2f}x this figure")
    limit_text = f"{limit:.0f} ms" + (f", < {p:.0f} ms" if p is not None else "")
    return _target(what, limit_text, _ms(v), ok, "; ".join(parts))


def _first_request_target(main: dict | None) -> dict:
    what = "first request after readiness no slower than the tenth (embedded)"
    if not main:
        return _target(what, "", DASH, None)
    first, tenth = med(main["first_request"]), med(main["tenth_request"])
    assert first is not None and tenth is not None
    ok = first <= tenth + FIRST_REQUEST_ALLOWANCE_MS
    why = "" if ok else f"first {first:.2f} ms vs tenth {tenth:.2f} ms"
    return _target(
        what,
        f"≤ tenth + {FIRST_REQUEST_ALLOWANCE_MS} ms",
        f"{first:.2f} vs {tenth:.2f} ms",
        ok,
        why,
    )


def _command_why(r: dict, v: float) -> str:
    floor = med(r.get("lower_bounds", {}).get("release runtime -I -S -c pass"))
    if floor is None:
        return ""
    return f"the bundled interpreter alone starts in {floor:.0f} ms (-I -S -c pass)"


def _warm_target(build: dict | None, lower: dict) -> dict:
    what = "warm rebuild, nothing changed < 1.5x `cp -a` of the release"
    cp = med(lower.get("cp -a release"))
    if not build or cp is None:
        return _target(what, "", DASH, None)
    v = med(build["warm"])
    assert v is not None
    ok = v < 1.5 * cp
    why = ""
    if not ok:
        phases = sorted(build.get("phases_warm", {}).items(), key=lambda kv: -kv[1]["median"])
        top = ", ".join(f"{name} {s['median'] / 1000:.2f} s" for name, s in phases[:3])
        why = f"{v / cp:.1f}x cp -a; largest phases: {top}"
    return _target(what, f"{1.5 * cp / 1000:.2f} s", f"{v / 1000:.2f} s", ok, why)


def _edit_target(build: dict | None) -> dict:
    what = "after editing one file, only that distribution is recompiled"
    obs = (build or {}).get("edit_observation") or []
    if not obs:
        return _target(what, "", DASH, None)
    last = obs[-1]
    edited = last["edited_lib_dir"]
    if last["compiled"] is not None:
        ok = set(last["compiled"]) <= {edited} and edited in last["compiled"]
        measured = "compiled: " + (", ".join(last["compiled"]) or "nothing")
    else:
        ok = set(last["rewritten"]) <= {edited}
        measured = "rewritten: " + (", ".join(last["rewritten"]) or "nothing")
    why = ""
    if not ok:
        why = (
            f"files rewritten in {len(last['rewritten'])} lib/ dir(s) "
            f"({', '.join(last['rewritten'])}); content changed only in "
            f"{', '.join(last['changed']) or 'none'}"
        )
    if edited not in last["changed"]:
        ok, why = False, f"the edit did not reach the release ({edited} unchanged)"
    return _target(what, f"only {edited}", measured, ok, why)


def _import_target(scaling: dict | None) -> dict:
    if not scaling or not scaling.get("rows"):
        what = "import of all N distributions: release ≤ single site-packages"
        return _target(what, "", DASH, None, "scaling not run")
    n = str(max(int(k) for k in scaling["rows"]))
    what = f"import of all {n} distributions: release ≤ single site-packages"
    row = scaling["rows"][n]
    rel, venv = med(row["import_release"]), med(row["import_venv"])
    assert rel is not None and venv is not None
    ok = rel <= venv * IMPORT_ALLOWANCE
    why = "" if ok else f"{rel / venv:.2f}x venv with {row['lib_dirs']} lib/ dirs on sys.path"
    return _target(what, f"≤ {IMPORT_ALLOWANCE:.2f}x venv", f"{rel:.1f} vs {venv:.1f} ms", ok, why)


def _tarball_target(build: dict | None, pyi: dict | None) -> dict:
    what = ".tar.gz of the release (with runtime) smaller than PyInstaller onedir's"
    if not build:
        return _target(what, "", DASH, None)
    mine = build["artifact"]["tgz_bytes"]
    if not pyi:
        return _target(what, "", f"{mine / 1e6:.1f} MB", None, "PyInstaller not measured")
    theirs = pyi["artifact"]["tgz_bytes"]
    ok = mine < theirs
    why = "" if ok else f"{mine / theirs:.2f}x PyInstaller's"
    return _target(what, f"< {theirs / 1e6:.1f} MB", f"{mine / 1e6:.1f} MB", ok, why)


# --- Markdown ---------------------------------------------------------------


def markdown(r: dict) -> str:
    meta = r["meta"]
    m = meta["machine"]
    lines = [
        f"## pyrelease benchmarks, {meta['date']}",
        "",
        f"{m.get('nproc')} CPUs ({m.get('cpu', '?')}), {m.get('memory_gib', '?')} GiB, "
        f"Linux {m.get('kernel')}; {meta['versions'].get('host_python', '?')}; "
        f"load average {meta['load_before']} before, {meta['load_after']} after. "
        f"Runtime figures: {r['config']['repeat']} runs each; builds: "
        f"{r['config']['build_repeat']} each. Cells: median [min{DASH}max] {TIMES}ratio to venv.",
        "",
    ]
    lines += _builds_table(r)
    lines += _runtime_table(r)
    lines += _commands_table(r)
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
        "| tool | cold | warm, nothing changed | one file edited | size MB | .tar.gz MB "
        "| .tar.xz MiB | files | runtime MB (files) | stdlib modules pruned | Python inside |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, b in builds.items():
        a = b["artifact"]
        lines.append(
            f"| {label} | {cell(b['cold'], base.get('cold'), 1000, 2)} "
            f"| {cell(b['warm'], base.get('warm'), 1000, 2)} "
            f"| {cell(b['edit'], base.get('edit'), 1000, 2)} "
            f"| {mb(a['bytes'])} | {mb(a['tgz_bytes'])} "
            f"| {_txz_cell(a)} "
            f"| {a['files']} | {_runtime_cell(a)} | {a.get('stdlib_pruned', DASH)} "
            f"| {'yes' if b['bundles_python'] else 'no (host Python)'} |"
        )
    lines += [
        "",
        f"Model (`mix release`): {MODEL['assembly']}; {MODEL['release']}, "
        f"tarball {MODEL['tarball']}.",
        "",
    ]
    return lines


def _txz_cell(a: dict) -> str:
    return DASH if "txz_bytes" not in a else f"{a['txz_bytes'] / MIB:.2f}"


def _runtime_cell(a: dict) -> str:
    if "runtime_bytes" not in a:
        return DASH
    return f"{a['runtime_bytes'] / 1e6:.1f} ({a['runtime_files']})"


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
        f"Model: start → answer {MODEL['start_to_200']}, stop → gone {MODEL['stop_to_gone']}, "
        f"idle node {MODEL['idle_rss']}.",
        "",
    ]
    return lines


def _commands_table(r: dict) -> list[str]:
    cmds = r.get("commands", {})
    if not cmds:
        return []
    lines = [
        "### Management commands (pyrelease, ms)",
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
    lines += [
        "",
        f"Model: `version` {MODEL['version']}; `eval`, `rpc`, `pid`, `stop` "
        f"{MODEL['command']} each (each boots a full VM).{floor_text}",
        "",
    ]
    return lines


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
        "| target | limit | measured | status | why |",
        "|---|---|---|---|---|",
    ]
    for t in r.get("targets", []):
        lines.append(
            f"| {t['target']} | {t['limit']} | {t['measured']} | **{t['status']}** | {t['why']} |"
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
