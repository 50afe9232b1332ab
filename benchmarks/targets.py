"""The targets of one benchmark run: each PASS, MISS or N/A, with the numbers behind it and
the model's (``mix release``) figure measured in the same run beside it.

Also the formatting every table shares: ``median [min-max]`` of the repeated
runs, and a ratio to the baseline (the plain venv) measured in the same run.
"""

from __future__ import annotations

#: The pyrelease configuration the targets are about: default strip, embedded mode.
MAIN_BUILD = "pyrelease (strip)"
MAIN_ROW = "pyrelease (strip, embedded)"
#: Interactive mode imports lazily, as the venv does: the like-for-like start comparison.
LAZY_ROW = "pyrelease (strip, interactive)"
BASELINE_BUILD = BASELINE_ROW = "venv"
PYINSTALLER = "PyInstaller onedir"
#: The model's build and its runtime row (benchmarks/mixrelease.py).
MODEL_LABEL = "model (mix release)"
#: A command application's start within this ratio of the same command in a venv.
SERVICES_RATIO = 1.15
#: "No slower" is judged on medians with this allowance for timer and scheduler noise.
FIRST_REQUEST_ALLOWANCE_MS = 0.5
IMPORT_ALLOWANCE = 1.05
#: En dash and multiplication sign, spelled out so the source stays ASCII-unambiguous.
DASH, TIMES = "\u2013", "\u00d7"
MIB = 1024 * 1024
#: The model's figures from its reference notes: shown when this run did not measure it.
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


def _ms(v: float | None) -> str:
    return DASH if v is None else f"{v:.1f} ms"


def _s(v: float | None) -> str:
    return DASH if v is None else f"{v / 1000:.2f} s"


def model_figures(r: dict) -> dict[str, str]:
    """The model's figure for each target (key: the target's ``model_key``), as text.

    Measured in this run when ``mix`` was there; otherwise the reference notes' figure,
    marked as such.
    """
    b = r.get("builds", {}).get(MODEL_LABEL)
    rt = r.get("runtime", {}).get(MODEL_LABEL)
    c = r.get("commands", {}).get(MODEL_LABEL)
    if not (b or rt or c):
        notes = {
            "start_to_200": MODEL["start_to_200"], "start_to_first_page": MODEL["start_to_200"],
            "pid": MODEL["command"], "rpc": MODEL["command"], "eval": MODEL["command"],
            "version": MODEL["version"], "stop": MODEL["stop_to_gone"],
            "warm": "0.8 s", "force": "0.8 s", "edit": "~1 s", "clone": "",
            "tarball": MODEL["tarball"], "tgz": MODEL["tarball"],
        }  # fmt: skip
        return {k: f"{v} (notes; not measured)" if v else "" for k, v in notes.items()}
    out: dict[str, str] = {}
    if b:
        a = b["artifact"]
        out["warm"] = out["force"] = f"{_s(med(b.get('warm')))} (`--overwrite`, compiled)"
        out["edit"] = _s(med(b.get("edit")))
        out["clone"] = f"{_s(med(b.get('cold')))} (cold: no package cache)"
        out["tgz"] = f"{a['tgz_bytes'] / 1e6:.1f} MB"
        if "tar_step_gz_bytes" in a:
            out["tarball"] = f"{a['tar_step_gz_bytes'] / MIB:.2f} MiB (`:tar`, .tar.gz)"
    if rt:
        for key in ("start_to_200", "start_to_first_page"):
            out[key] = _ms(med(rt.get(key)))
        out["stop"] = _ms(med(rt.get("stop_to_gone")))
        first, tenth = med(rt.get("first_request")), med(rt.get("tenth_request"))
        if first is not None and tenth is not None:
            out["first_request"] = f"{first:.2f} vs {tenth:.2f} ms"
    if c:
        for key in ("pid", "rpc", "eval", "version"):
            out[key] = _ms(med(c.get(key)))
    return out


def evaluate(r: dict) -> list[dict]:
    """PASS/MISS for each target, with the numbers behind it and the model's figure."""
    out = [*_runtime_targets(r), *_artifact_targets(r)]
    model = model_figures(r)
    for t in out:
        t["model"] = model.get(t.pop("model_key", ""), "")
    return out


def _keyed(target: dict, key: str) -> dict:
    return {**target, "model_key": key}


def _runtime_targets(r: dict) -> list[dict]:
    rt, cmds = r.get("runtime", {}), r.get("commands", {})
    main, base, pyi = rt.get(MAIN_ROW), rt.get(BASELINE_ROW), rt.get(PYINSTALLER)
    prof = r.get("boot_profile", {})
    out = [
        _keyed(_start_target(rt.get(LAZY_ROW), base, pyi, prof, "start_to_200"), "start_to_200"),
        _keyed(_start_target(main, base, pyi, prof, "start_to_first_page"), "start_to_first_page"),
        _keyed(_first_request_target(main), "first_request"),
    ]
    main_cmds = cmds.get(MAIN_ROW, {})
    for name in ("eval", "pid", "rpc"):
        v = med(main_cmds.get(name))
        ok = None if v is None else v < 60
        why = "" if v is None or v < 60 else _command_why(r, v)
        out.append(_keyed(_target(f"`{name}` median < 60 ms", "60 ms", _ms(v), ok, why), name))
    v = med(main_cmds.get("version"))
    why = "" if v is None or v < 10 else "the sh script itself: see /bin/sh in the lower bounds"
    ok = None if v is None else v < 10
    out.append(_keyed(_target("`version` median < 10 ms", "10 ms", _ms(v), ok, why), "version"))
    v = med(main.get("stop_to_gone")) if main else None
    what = "`stop` → OS process gone < 300 ms"
    out.append(_keyed(_target(what, "300 ms", _ms(v), None if v is None else v < 300), "stop"))
    # Management commands near the interpreter's floor.
    for name in ("pid", "rpc", "eval"):
        v = med(main_cmds.get(name))
        floor = med(r.get("lower_bounds", {}).get("release runtime -I -S -c pass"))
        why = ""
        if floor and v is not None:  # on a busy machine the floor itself is over the limit
            why = f"{v / floor:.1f}x the bundled `python -I -S -c pass` ({floor:.1f} ms)"
        target = _target(f"`{name}` median ≤ 15 ms", "15 ms", _ms(v),
                         None if v is None else v <= 15, why)  # fmt: skip
        out.append(_keyed(target, name))
    out += _services_targets(r.get("services"))
    return out


def _artifact_targets(r: dict) -> list[dict]:
    builds = r.get("builds", {})
    main = builds.get(MAIN_BUILD)
    return [
        _keyed(_warm_target(main, r.get("lower_bounds", {})), "warm"),
        _edit_target(main),
        _import_target(r.get("scaling")),
        _keyed(_tarball_target(main, builds.get(PYINSTALLER)), "tgz"),
        _keyed(_xz_target(main, r.get("prune_off")), "tarball"),
        _keyed(_build_time_target(main, "force", 1.0), "force"),
        _keyed(_build_time_target(main, "edit", 0.5), "edit"),
        _keyed(_build_time_target(main, "clone", 3.0), "clone"),
    ]


#: What each timed build target measures, for the table.
BUILD_TIME_TARGETS = {
    "force": "rebuild after `--force`, every cache warm",
    "edit": "rebuild after editing one source file",
    "clone": "first build of a fresh clone, package cache warm",
}


def _build_time_target(build: dict | None, kind: str, limit_s: float) -> dict:
    what = f"{BUILD_TIME_TARGETS[kind]} ≤ {limit_s:.1f} s"
    v = med((build or {}).get(kind))
    if v is None:
        return _target(what, f"{limit_s:.1f} s", DASH, None)
    ok = v <= limit_s * 1000
    why = ""
    phases = (build or {}).get(f"phases_{kind}", {})
    if not ok and phases:
        top = sorted(phases.items(), key=lambda kv: -kv[1]["median"])[:3]
        why = "slowest stretches, from the `* step` line named to the next: " + ", ".join(
            f"{_phase(n)} {_s(s['median'])}" for n, s in top
        )
    return _target(what, f"{limit_s:.1f} s", _s(v), ok, why)


def _phase(name: str) -> str:
    """A step line's name without its details (``pruned the standard library: kept ...``)."""
    return name.replace(" (and the rest of the assembly)", "").split(":")[0]


def _services_targets(found: dict | None) -> list[dict]:
    out = []
    for name, tool in (("api", "uvicorn"), ("web", "gunicorn")):
        what = f"`{tool}` command application: start → first 200 ≤ {SERVICES_RATIO}x venv"
        row = (found or {}).get(name)
        if not row:
            out.append(_target(what, f"{SERVICES_RATIO}x venv", DASH, None, "not run"))
            continue
        rel, venv = med(row["release"]), med(row["venv"])
        assert rel is not None and venv is not None
        # The median of the rounds' ratios (see services.py); the ratio of the medians
        # in results written before it was recorded.
        times = med(row.get("ratio")) or rel / venv
        ok = times <= SERVICES_RATIO
        measured = f"{rel:.0f} vs {venv:.0f} ms ({times:.2f}x)"
        limit = f"{SERVICES_RATIO}x venv"
        out.append(_target(what, limit, measured, ok))
    return out


def _xz_target(build: dict | None, prune_off: dict | None) -> dict:
    what = "the `tar` step's default artifact (`.tar.xz`, with runtime) ≤ 5.0 MiB"
    a = (build or {}).get("artifact", {})
    if "txz_bytes" not in a:
        return _target(what, "5.0 MiB", DASH, None)
    size = a["txz_bytes"] / MIB
    why = f"the same release as the `tar` step's `.tar.gz`: {a['tar_step_gz_bytes'] / MIB:.2f} MiB"
    if prune_off:
        why += f"; without pruning the standard library: {prune_off['txz_bytes'] / MIB:.2f} MiB"
    return _target(what, "5.0 MiB", f"{size:.2f} MiB", size <= 5.0, why)


#: What each start target compares: the same work in pyrelease and in the venv.
START_TARGETS = {
    "start_to_200": "`start` → first 200 ≤ 1.15x venv and < PyInstaller onedir "
    "(interactive: modules imported on demand, as in the venv)",
    "start_to_first_page": "`start` → first `/` served ≤ 1.15x venv and < PyInstaller onedir "
    "(embedded: the page's modules imported before ready in pyrelease, at the first `/` elsewhere)",
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
        top = ", ".join(f"{_phase(name)} {_s(s['median'])}" for name, s in phases[:3])
        why = f"{v / cp:.1f}x cp -a" + (f"; largest phases: {top}" if top else "")
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
