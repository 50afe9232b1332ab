#!/usr/bin/env python3
"""Benchmark pyrelease against a plain venv, pex, shiv and PyInstaller, in one run.

    python benchmarks/run.py [--quick] [--repeat N] [--build-repeat N] [--only pyrelease,venv,...]

Builds examples/demo with every tool (cold, warm, after editing one file),
measures each result (size, start → first HTTP 200, request latency, stop,
memory; pyrelease's management commands), lower bounds on the same machine,
and a synthetic app with 1, 20 and 100 distributions; then prints Markdown
tables with the targets marked PASS or MISS and writes the JSON to
benchmarks/results/. See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import measure
import report
import scaling
import tools
from measure import clean_env, free_port, http_get, run_timed, running, summarize, tree_stats
from tools import ALL_KEYS, FOREIGN, PYRELEASE_VARIANTS, REPO, Pyrelease, Setup, Tool

#: Requests per node: the first and the tenth after readiness are reported.
REQUESTS = 10
#: Each management command runs this many times per started node.
COMMAND_REPEAT = 2
SCALING_COUNTS = [1, 20, 100]
BOOT_LINE = re.compile(r"started in (\d+) ms")


class Bench:
    """One run: the set-up, the tools, and the results as they accumulate."""

    def __init__(self, setup: Setup, args: argparse.Namespace) -> None:
        self.setup, self.args = setup, args
        self.began = time.monotonic()
        self.projects: dict[str, tuple[Path, Path]] = {}  # tool label → (project, cache)
        self.failed: list[str] = []
        self.probe_seen: set[str] = set()  # tools whose compile workers the probe has seen
        self.results: dict = {"builds": {}, "runtime": {}, "commands": {}, "lower_bounds": {}}

    def say(self, message: str) -> None:
        print(f"* [{time.monotonic() - self.began:6.1f} s] {message}", flush=True)

    # --- builds -------------------------------------------------------------

    def builds(self, tool_list: list[Tool]) -> list[Tool]:
        """Cold, warm and edited builds, round-robin over the tools; the tools that worked."""
        samples = {t.label: {"cold": [], "warm": [], "edit": []} for t in tool_list}
        phases = {t.label: {} for t in tool_list}
        observations: dict[str, list] = {t.label: [] for t in tool_list}
        ok = list(tool_list)
        n = self.args.build_repeat
        for kind in ("cold", "warm", "edit"):
            if kind == "warm":
                for tool in ok:
                    self.results["builds"][tool.label] = self._artifact_entry(tool)
            for i in range(n):
                for tool in list(ok):
                    self.say(f"build {tool.label}: {kind} {i + 1}/{n}")
                    try:
                        ms = self._build_once(
                            tool, kind, i, phases[tool.label], observations[tool.label]
                        )
                    except Exception as exc:  # one tool failing must not lose the others' figures
                        self._fail(tool, exc)
                        ok.remove(tool)
                        continue
                    samples[tool.label][kind].append(ms)
        for tool in ok:
            entry = self.results["builds"][tool.label]
            for kind, values in samples[tool.label].items():
                entry[kind] = summarize(values)
            entry["phases_warm"] = {k: summarize(v) for k, v in phases[tool.label].items()}
            entry["edit_observation"] = observations[tool.label]
        return ok

    def guarded(self, what: str, fn, *args):
        """Run one part of the benchmark; a failure is reported and the other parts go on."""
        try:
            return fn(*args)
        except Exception as exc:
            message = f"{what} failed: {str(exc).strip()[-1500:]}"
            print(f"ERROR: {message}", file=sys.stderr, flush=True)
            self.failed.append(message)
            return None

    def _fail(self, tool: Tool, exc: Exception) -> None:
        text = str(exc).strip()
        if len(text) > 1500:  # pex prints one very long line: keep its start and its end
            text = f"{text[:300]} [...] {text[-1200:]}"
        message = f"{tool.label} failed and was left out: {text}"
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        self.failed.append(message)
        self.results["builds"].pop(tool.label, None)

    def _build_once(self, tool: Tool, kind: str, i: int, phases: dict, observations: list) -> float:
        if kind == "cold":
            base = self.setup.work / "builds" / slug(tool.label) / f"cold-{i}"
            strip = tool.strip if isinstance(tool, Pyrelease) else None
            project = tools.copy_demo(base / "demo", self.setup, strip)
            previous = self.projects.get(tool.label)
            self.projects[tool.label] = (project, base / "cache")
            if previous is not None:  # keep only the newest cold build: it is the warm one
                shutil.rmtree(previous[0].parent, ignore_errors=True)
        project, cache = self.projects[tool.label]
        if kind == "edit":
            tools.edit_source(project, i)
        before = None
        if isinstance(tool, Pyrelease):
            tool.probe_log = project.parent / f"probe-{kind}-{i}.jsonl"
            if kind == "edit":
                before = measure.snapshot(tool.artifact(project) / "lib")
        build = tool.build(project, cache, fresh=kind == "cold")
        if isinstance(tool, Pyrelease):
            if probe_dirs(tool.probe_log) is not None:
                self.probe_seen.add(tool.label)
            if kind == "warm":
                for name, ms in pyrelease_phases(build.steps[0]).items():
                    phases.setdefault(name, []).append(ms)
            if before is not None:
                observations.append(self._observe_edit(tool, project, before))
        return build.ms

    def _observe_edit(self, tool: Pyrelease, project: Path, before: dict) -> dict:
        lib = tool.artifact(project) / "lib"
        after = measure.snapshot(lib)
        rewritten, changed = measure.changed_top_dirs(before, after)
        edited = next(
            (p.name for p in sorted(lib.iterdir()) if p.name.startswith(f"{tools.EDITED_DIST}-")),
            f"{tools.EDITED_DIST}-?",
        )
        return {
            "edited_file": str(tools.EDITED_FILE),
            "edited_lib_dir": edited,
            "lib_dirs": len(list(lib.iterdir())),
            "rewritten": rewritten,
            "changed": changed,
            # No record while the probe has seen this tool's workers before: nothing compiled.
            "compiled": probe_dirs(tool.probe_log)
            or ([] if tool.label in self.probe_seen else None),
        }

    def _artifact_entry(self, tool: Tool) -> dict:
        project, _ = self.projects[tool.label]
        artifact = tool.artifact(project)
        stats = tree_stats(artifact)
        tgz = project.parent / "artifact.tar.gz"
        out = run_timed(["tar", "-czf", str(tgz), "-C", str(artifact.parent), artifact.name])
        out.check("tar -czf")
        stats.update(tgz_bytes=tgz.stat().st_size, tgz_ms=round(out.ms, 1))
        tgz.unlink()
        if isinstance(tool, Pyrelease):
            stats.update(release_artifact_stats(artifact, project.parent))
        return {"tool": tool.key, "bundles_python": tool.bundles_python, "artifact": stats}

    # --- running ------------------------------------------------------------

    def runtime(self, tool_list: list[Tool]) -> None:
        rows = []
        for tool in tool_list:
            if isinstance(tool, Pyrelease):
                modes = ["embedded", "interactive"] if tool.variant == "strip" else ["embedded"]
                for mode in modes:
                    rows.append(
                        (f"pyrelease ({tool.variant}, {mode})", tool, {"RELEASE_MODE": mode})
                    )
            else:
                rows.append((tool.label, tool, {}))
        samples: dict[str, dict[str, list[float]]] = {label: {} for label, _, _ in rows}
        for label, tool, env in rows:
            self.say(f"run {label}: warm-up")
            self._cycle(label, tool, env, {}, commands=False)
        for i in range(self.args.repeat):
            for label, tool, env in rows:
                self.say(f"run {label}: {i + 1}/{self.args.repeat}")
                self._cycle(label, tool, env, samples[label], commands=isinstance(tool, Pyrelease))
        for label, tool, _ in rows:
            s = samples[label]
            self.results["runtime"][label] = {
                "tool": tool.key,
                "stop_method": "bin/demo stop" if isinstance(tool, Pyrelease) else "SIGTERM",
                **{k: summarize(s.get(k, [])) for k in (
                    "start_to_200", "start_to_first_page", "first_request", "tenth_request",
                    "stop_to_gone",
                    "rss_kb", "hwm_kb", "reported_boot")},
            }  # fmt: skip
            if isinstance(tool, Pyrelease):
                names = ("version", "pid", "eval", "rpc", "stop_command")
                self.results["commands"][label] = {
                    **{k: summarize(s.get(k, [])) for k in names},
                    "maxrss_kb": {k: summarize(s.get(f"rss_{k}", []), "kB") for k in names[1:4]},
                    "imports_ms": {k: summarize(s.get(f"imports_{k}", [])) for k in names[1:4]},
                    "modules": {k: summarize(s.get(f"modules_{k}", [])) for k in names[1:4]},
                    # Beyond what the bare runtime imports at start-up ("runtime").
                    "imported": {k: s.get(f"imported_{k}", []) for k in (*names[1:4], "runtime")},
                }

    def _cycle(self, label: str, tool: Tool, extra: dict, s: dict, commands: bool) -> None:
        """Start the node, wait for a 200, send requests, (commands), stop it."""
        project, _ = self.projects[tool.label]
        port = free_port()
        run_root = self.setup.work / "run" / slug(label)
        env = clean_env({"PORT": str(port), **extra, **tool.runtime_env(run_root)})
        log = self.setup.work / "logs" / f"{slug(label)}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        offset = log.stat().st_size if log.exists() else 0
        with running(tool.start_argv(project), env, log) as node:
            add(s, "start_to_200", node.wait_ready(port))
            latencies = []
            for _ in range(REQUESTS):
                status, body, ms = http_get(port, "/")
                if status != 200 or b"Hello" not in body:
                    raise RuntimeError(f"{label}: GET / answered {status}: {body[:200]!r}")
                latencies.append(ms)
                if len(latencies) == 1:
                    add(s, "start_to_first_page", measure.ms_since(node.t0))
            add(s, "first_request", latencies[0])
            add(s, "tenth_request", latencies[-1])
            rss, hwm = node.memory_kb()
            add(s, "rss_kb", rss)
            add(s, "hwm_kb", hwm)
            if isinstance(tool, Pyrelease):
                script = str(tool.artifact(project) / "bin" / "demo")
                cmd_env = clean_env(extra)
                if commands:
                    self._commands(script, cmd_env, node.pid, s)
                add(s, "stop_to_gone", stop_with_command(node, script, cmd_env, s))
            else:
                add(s, "stop_to_gone", node.terminate())
        found = BOOT_LINE.findall(log.read_text(errors="replace")[offset:])
        if found:
            add(s, "reported_boot", float(found[-1]))

    def _commands(self, script: str, env: dict, pid: int, s: dict) -> None:
        for _ in range(COMMAND_REPEAT):
            for name, args in (("version", ["version"]), ("pid", ["pid"]),
                               ("eval", ["eval", "1"]), ("rpc", ["rpc", "1"])):  # fmt: skip
                out = run_timed([script, *args], env=env, timeout=60).check(f"bin/demo {name}")
                if name == "pid" and out.stdout.strip() != str(pid):
                    raise RuntimeError(f"bin/demo pid printed {out.stdout!r}, the node is {pid}")
                add(s, name, out.ms)
        for name, args in (("pid", ["pid"]), ("eval", ["eval", "1"]), ("rpc", ["rpc", "1"])):
            rss = measure.peak_rss_kb([script, *args], env)
            if rss is not None:
                add(s, f"rss_{name}", rss)
        # What each command imports, under -X importtime (vm.args for eval, which boots;
        # remote.vm.args for the client commands): the sum of the top-level imports.
        vm_args = self.setup.work / "importtime.vm.args"
        vm_args.write_text("-X importtime\n")
        flags = {"RELEASE_VM_ARGS": str(vm_args), "RELEASE_REMOTE_VM_ARGS": str(vm_args)}
        # The modules the bare runtime imports at start-up, to name what each command adds.
        interpreter: set[str] = set()
        for runtime in sorted(Path(script).parents[1].glob("runtime-*/bin/python3.[0-9]*"))[:1]:
            bare = run_timed([str(runtime), "-X", "importtime", "-I", "-S", "-c", "pass"], env=env)
            interpreter = set(measure.importtime_names(bare.check("runtime importtime").stderr))
        for name, args in (("pid", ["pid"]), ("eval", ["eval", "1"]), ("rpc", ["rpc", "1"])):
            out = run_timed([script, *args], env={**env, **flags}, timeout=60)
            top = measure.importtime_top(out.check(f"bin/demo {name} -X importtime").stderr)
            add(s, f"imports_{name}", sum(ms for _, ms in top))
            add(s, f"modules_{name}", float(sum(1 for line in out.stderr.splitlines()
                                              if line.startswith("import time:")) - 1))  # fmt: skip
            # The names, not samples: the last run's (the same every run).
            names = measure.importtime_names(out.stderr)
            s[f"imported_{name}"] = [m for m in names if m not in interpreter]  # type: ignore[assignment]
        s["imported_runtime"] = sorted(interpreter)  # type: ignore[assignment]

    # --- where boot time goes -----------------------------------------------

    def boot_profiles(self, tool_list: list[Tool]) -> None:
        """One start of the main release and of the venv under ``-X importtime``."""
        by_label = {t.label: t for t in tool_list}
        profiles = {}
        for label, extra in ((report.MAIN_BUILD, {"RELEASE_MODE": "embedded"}), ("venv", {})):
            tool = by_label.get(label)
            if tool is None:
                continue
            vm_args = self.setup.work / "importtime.vm.args"
            vm_args.write_text("-X importtime\n")
            if isinstance(tool, Pyrelease):  # the node re-executes itself with vm.args flags
                extra = {**extra, "RELEASE_VM_ARGS": str(vm_args)}
            else:
                extra = {**extra, "PYTHONPROFILEIMPORTTIME": "1"}
            project, _ = self.projects[tool.label]
            port = free_port()
            log = self.setup.work / "logs" / f"importtime-{slug(label)}.log"
            env = clean_env({"PORT": str(port), **extra})
            with running(tool.start_argv(project), env, log) as node:
                node.wait_ready(port)
                node.terminate()
            profiles[label] = categorize_imports(measure.importtime_top(log.read_text()))
        self.results["boot_profile"] = profiles

    # --- lower bounds -------------------------------------------------------

    def lower_bounds(self, tool_list: list[Tool]) -> None:
        by_label = {t.label: t for t in tool_list}
        host = str(self.setup.host_python)
        checks: dict[str, list[str]] = {
            "python -I -c pass": [host, "-I", "-c", "pass"],
            "python -I -S -c pass": [host, "-I", "-S", "-c", "pass"],
            "/bin/sh -c :": ["/bin/sh", "-c", ":"],
        }
        main = by_label.get(report.MAIN_BUILD)
        if main is not None:
            project, _ = self.projects[main.label]
            release = main.artifact(project)
            runtime = next(iter(sorted(release.glob("runtime-*/bin/python3.[0-9]*"))), None)
            if runtime is not None:
                checks["release runtime -I -S -c pass"] = [str(runtime), "-I", "-S", "-c", "pass"]
            copies = self.setup.work / "copies"
            checks["cp -a build environment"] = [
                "cp",
                "-a",
                str(project / "_build" / "prod" / "venv"),
                str(copies),
            ]
            checks["cp -a release"] = ["cp", "-a", str(release), str(copies)]
            checks["gzip of the release bytes"] = [
                "sh", "-c", f'tar -C "{release}" -cf - . | gzip -6 > /dev/null'
            ]  # fmt: skip
        venv = by_label.get("venv")
        if venv is not None:
            python = str(venv.artifact(self.projects[venv.label][0]) / "bin" / "python")
            checks["import the app in the venv"] = [
                python,
                "-c",
                "import demo.app, demo.views, demo_extra",
            ]
        samples: dict[str, list[float]] = {name: [] for name in checks}
        for i in range(self.args.repeat):
            self.say(f"lower bounds {i + 1}/{self.args.repeat}")
            for name, argv in checks.items():
                shutil.rmtree(self.setup.work / "copies", ignore_errors=True)
                samples[name].append(run_timed(argv, timeout=300).check(name).ms)
        shutil.rmtree(self.setup.work / "copies", ignore_errors=True)
        self.results["lower_bounds"] = {name: summarize(v) for name, v in samples.items()}
        rss = {}
        for name in ("python -I -S -c pass", "release runtime -I -S -c pass"):
            if name in checks:
                rss[name] = measure.peak_rss_kb(checks[name])
        self.results["lower_bounds_rss_kb"] = rss


def release_artifact_stats(release: Path, scratch: Path) -> dict:
    """The release's own ``.tar.xz`` (pyrelease's deterministic writer), its runtime's size
    and file count, and how many standard-library modules were pruned."""
    from pyrelease.assemble.tarball import write_tarball

    txz = scratch / "artifact.tar.xz"
    t0 = time.perf_counter()
    write_tarball(release, txz, "xz")
    out = {"txz_bytes": txz.stat().st_size, "txz_ms": round((time.perf_counter() - t0) * 1e3)}
    txz.unlink()
    runtime = next(iter(sorted(release.glob("runtime-*"))), None)
    if runtime is not None:
        rt = tree_stats(runtime)
        out.update(runtime_bytes=rt["bytes"], runtime_files=rt["files"])
    listing = next(iter(sorted(release.glob("releases/*/stdlib-pruned.txt"))), None)
    if listing is not None:
        out["stdlib_pruned"] = len(listing.read_text().split())
    return out


def stop_with_command(node: measure.Node, script: str, env: dict, s: dict) -> float:
    """``bin/demo stop`` → the node's process gone (ms); the command's own time goes to ``s``."""
    done: dict = {}

    def stopper() -> None:
        done["result"] = run_timed([script, "stop"], env=env, timeout=60)

    t0 = time.perf_counter_ns()
    thread = threading.Thread(target=stopper)
    thread.start()
    try:
        gone = node.wait_gone(t0)
    finally:
        thread.join()
    done["result"].check("bin/demo stop")
    add(s, "stop_command", done["result"].ms)
    return gone


def categorize_imports(top: list[tuple[str, float]]) -> dict:
    """Import ms at boot: pyrelease's node (with what it imports) and everything else.

    ``-X importtime`` does not list modules imported with ``importlib.import_module``
    (the embedded preload), only what they import: so "everything else" is the
    app, its dependencies and the stdlib they pull in, whoever imported it.
    """
    node = sum(ms for name, ms in top if name.split(".")[0] == "pyrelease")
    rest = sum(ms for _, ms in top) - node
    slowest = sorted(top, key=lambda item: -item[1])[:8]
    return {
        "total_ms": round(node + rest, 1),
        "by_origin_ms": {"pyrelease.node": round(node, 1), "app, deps, stdlib": round(rest, 1)},
        "slowest_top_level": [[name, round(ms, 1)] for name, ms in slowest],
    }


def add(samples: dict, key: str, value: float) -> None:
    samples.setdefault(key, []).append(value)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()


def pyrelease_phases(result: measure.Result) -> dict[str, float]:
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
    import json

    dirs: set[str] = set()
    for line in log.read_text().splitlines():
        dirs |= set(json.loads(line)["lib_dirs"])
    return sorted(dirs)


def git_info() -> dict:
    def git(*args: str) -> str:
        out = subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True)
        return out.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain"))}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="a tiny configuration: 2 runs, 1 build each, default strip only, no scaling",
    )
    p.add_argument("--repeat", type=int, help="runs of each runtime figure (default 5; quick 2)")
    p.add_argument("--build-repeat", type=int, help="builds of each kind (default 3; quick 1)")
    p.add_argument("--only", help=f"comma-separated subset of {','.join(ALL_KEYS)}")
    p.add_argument("--no-scaling", action="store_true", help="skip the 1/20/100-distribution app")
    p.add_argument("--results-dir", type=Path, default=tools.BENCH / "results")
    p.add_argument(
        "--python",
        type=Path,
        default=REPO / ".venv" / "bin" / "python",
        help="the interpreter pyrelease is installed in (default: .venv/bin/python)",
    )
    p.add_argument("--keep", action="store_true", help="keep the work directory (printed)")
    args = p.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(ALL_KEYS)
    unknown = only - set(ALL_KEYS)
    if unknown:
        p.error(f"unknown tool(s) {', '.join(sorted(unknown))}; choose from {', '.join(ALL_KEYS)}")
    args.only = only
    args.repeat = args.repeat or (2 if args.quick else 5)
    args.build_repeat = args.build_repeat or (1 if args.quick else 3)
    args.variants = ["strip"] if args.quick else list(PYRELEASE_VARIANTS)
    args.scaling = not (args.quick or args.no_scaling) and {"pyrelease", "venv"} <= only
    return args


def make_setup(args: argparse.Namespace, work: Path) -> Setup:
    python = args.python.absolute()
    host = tools.base_python(python)
    foreign = sorted(args.only & set(FOREIGN))
    wheelhouse = tools.ensure_wheelhouse(python, with_pex="pex" in args.only)
    runner_dir = work / "runner"
    runner_dir.mkdir(parents=True)
    shutil.copy2(tools.RUNNER, runner_dir / "demo_runner.py")
    setup = Setup(work, python, host, wheelhouse, runner_dir)
    if foreign:
        try:
            setup.tools_bin = tools.ensure_tools(host)
        except Exception as exc:
            if not args.quick:
                raise
            setup.notes.append(f"{', '.join(foreign)} skipped: could not be installed ({exc})")
    if shutil.which("mix") is None:
        setup.notes.append(
            "the model (`mix release`) was not measured in this run: `mix` is not installed "
            "(Debian's erlang and elixir); its figures come from the reference notes"
        )
    return setup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pyrelease-bench-"))
    started = datetime.datetime.now(datetime.UTC)
    load_before = measure.loadavg()
    try:
        setup = make_setup(args, work)
        bench = Bench(setup, args)
        tool_list = tools.make_tools(setup, args.only, args.variants)
        tool_list = bench.builds(tool_list)
        bench.guarded("running the demo", bench.runtime, tool_list)
        bench.guarded("profiling imports at boot", bench.boot_profiles, tool_list)
        bench.guarded("lower bounds", bench.lower_bounds, tool_list)
        results = bench.results
        results["scaling"] = None
        if args.scaling and any(t.key == "pyrelease" for t in tool_list):
            warm = bench.projects.get(report.MAIN_BUILD, (None, None))[1]
            results["scaling"] = bench.guarded(
                "scaling",
                scaling.run_scaling,
                setup,
                SCALING_COUNTS,
                args.repeat,
                warm / "pyrelease" if warm else None,
            )
        elapsed = time.monotonic() - bench.began
    finally:
        if args.keep:
            print(f"* work directory kept: {work}", flush=True)
        else:
            shutil.rmtree(work, ignore_errors=True)
    results = {
        "meta": {
            "date": started.strftime("%Y-%m-%d %H:%M UTC"),
            "machine": measure.machine(),
            "versions": tools.tool_versions(setup),
            "git": git_info(),
            "load_before": load_before,
            "load_after": measure.loadavg(),
            "elapsed_s": round(elapsed, 1),
            "argv": sys.argv[1:] if argv is None else argv,
        },
        "config": {
            "quick": args.quick,
            "repeat": args.repeat,
            "build_repeat": args.build_repeat,
            "only": sorted(args.only),
            "variants": args.variants,
            "scaling": args.scaling,
            "requests_per_node": REQUESTS,
            "command_repeat_per_node": COMMAND_REPEAT,
        },
        **results,
        "notes": [*setup.notes, *bench.failed],
    }
    results["targets"] = report.evaluate(results)
    results["markdown"] = report.markdown(results)
    print()
    print(results["markdown"])
    path = report.write_json(results, args.results_dir, started.strftime("%Y%m%dT%H%M%SZ"))
    print(f"JSON written to {path}")
    return 1 if bench.failed else 0


if __name__ == "__main__":
    sys.exit(main())
