#!/usr/bin/env python3
"""Benchmark pyrelease against the model (`mix release`), a plain venv, pex, shiv and
PyInstaller, in one run.

    python benchmarks/run.py [--quick] [--repeat N] [--build-repeat N] [--only pyrelease,venv,...]

Builds examples/demo with every tool, and the same service in Elixir with
`mix release` (cold, warm, after editing one file; pyrelease also with
`--force` and as a fresh clone with warm caches), measures each result (size,
tarballs, start → first HTTP 200, request latency, stop, memory; the management
commands of pyrelease and of the model), the release with the standard library
pruned and not, uvicorn and gunicorn as command applications against a venv,
lower bounds on the same machine, and a synthetic app with 1, 20 and 100
distributions; then prints Markdown tables with the targets marked PASS or MISS
beside the model's figures, and writes the JSON to benchmarks/results/. See
benchmarks/README.md.
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

import artifacts
import bounds
import measure
import mixrelease
import report
import scaling
import services
import tools
from buildphases import probe_dirs, record_phases
from measure import clean_env, free_port, http_get, run_timed, running, summarize, tree_stats
from tools import FOREIGN, PYRELEASE_VARIANTS, REPO, Pyrelease, Setup, Tool

#: What --only chooses from: the tools, the model and the command applications.
ALL_KEYS = (*tools.ALL_KEYS, "model", "services")
BUILD_KINDS = ("cold", "warm", "force", "edit", "clone")

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
        samples = {t.label: {k: [] for k in t.build_kinds} for t in tool_list}
        phases: dict[str, dict] = {t.label: {k: {} for k in BUILD_KINDS} for t in tool_list}
        observations: dict[str, list] = {t.label: [] for t in tool_list}
        ok = list(tool_list)
        n = self.args.build_repeat
        for kind in BUILD_KINDS:
            if kind == "warm":
                for tool in list(ok):
                    try:
                        self.results["builds"][tool.label] = self._artifact_entry(tool)
                    except Exception as exc:
                        self._fail(tool, exc)
                        ok.remove(tool)
            for i in range(n):
                for tool in [t for t in ok if kind in t.build_kinds]:
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
            for kind, found in phases[tool.label].items():
                if found:  # ms between pyrelease's `* step` lines, per build kind
                    entry[f"phases_{kind}"] = {k: summarize(v) for k, v in found.items()}
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
            project = tool.copy_project(base / "demo")
            previous = self.projects.get(tool.label)
            self.projects[tool.label] = (project, base / "cache")
            if previous is not None:  # keep only the newest cold build: it is the warm one
                shutil.rmtree(previous[0].parent, ignore_errors=True)
        project, cache = self.projects[tool.label]
        if kind == "clone":  # a fresh copy of the project, built with the warm caches
            clone = self.setup.work / "builds" / slug(tool.label) / f"clone-{i}"
            if isinstance(tool, Pyrelease):
                tool.probe_log = None
            try:
                build = tool.build(tool.copy_project(clone / "demo"), cache, kind)
            finally:
                shutil.rmtree(clone, ignore_errors=True)
            if isinstance(tool, Pyrelease):
                record_phases(phases[kind], build)
            return build.ms
        if kind == "edit":
            tool.edit(project, i)
        before = None
        if isinstance(tool, Pyrelease):
            tool.probe_log = project.parent / f"probe-{kind}-{i}.jsonl"
            if kind == "edit":
                before = measure.snapshot(tool.artifact(project) / "lib")
        build = tool.build(project, cache, kind)
        if isinstance(tool, Pyrelease):
            if probe_dirs(tool.probe_log) is not None:
                self.probe_seen.add(tool.label)
            record_phases(phases[kind], build)
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
            stats.update(artifacts.release_artifact_stats(artifact, project.parent))
        elif isinstance(tool, mixrelease.Model):
            self.say(f"build {tool.label}: the tar step")
            stats.update(tool.tarball(project, self.projects[tool.label][1]))
        return {
            "tool": tool.key,
            "bundles_python": tool.bundles_python,
            "inside": tool.inside,
            "artifact": stats,
        }

    def prune_off(self, tool_list: list[Tool]) -> None:
        """The main release built again with ``prune_stdlib = false`` (caches warm)."""
        main = next((t for t in tool_list if t.label == report.MAIN_BUILD), None)
        if main is None:
            return
        self.say(f"build {main.label} with prune_stdlib = false")
        _, cache = self.projects[main.label]
        self.results["prune_off"] = artifacts.prune_off(main, self.setup, cache)

    def services(self) -> None:
        """uvicorn and gunicorn as command applications against the same commands in a venv."""
        work = self.setup.work / "services"
        work.mkdir()
        python = str(self.setup.pyrelease_python)
        # At least services.ROUNDS in a measuring run (see there); --quick only checks it runs.
        quick = self.args.quick
        rounds = self.args.repeat if quick else max(self.args.repeat, services.ROUNDS)
        self.results["services"] = services.measure_services(work, python, rounds, self.say)

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
            # The warm-up runs the commands too: a first command after a build would pay for
            # reading its code from disk, which the later rounds no longer do.
            self._cycle(label, tool, env, {}, commands=tool.has_commands)
        for i in range(self.args.repeat):
            for label, tool, env in rows:
                self.say(f"run {label}: {i + 1}/{self.args.repeat}")
                self._cycle(label, tool, env, samples[label], commands=tool.has_commands)
        for label, tool, _ in rows:
            s = samples[label]
            self.results["runtime"][label] = {
                "tool": tool.key,
                "stop_method": "bin/demo stop" if tool.has_commands else "SIGTERM",
                **{k: summarize(s.get(k, [])) for k in (
                    "start_to_200", "start_to_first_page", "first_request", "tenth_request",
                    "stop_to_gone",
                    "rss_kb", "hwm_kb", "reported_boot")},
            }  # fmt: skip
            if tool.has_commands:
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
            if tool.has_commands:
                script = str(tool.artifact(project) / "bin" / "demo")
                cmd_env = clean_env({**extra, **tool.runtime_env(run_root)})
                if commands:
                    self._commands(script, cmd_env, node.pid, s, isinstance(tool, Pyrelease))
                add(s, "stop_to_gone", stop_with_command(node, script, cmd_env, s))
            else:
                add(s, "stop_to_gone", node.terminate())
        found = BOOT_LINE.findall(log.read_text(errors="replace")[offset:])
        if found:
            add(s, "reported_boot", float(found[-1]))

    def _commands(self, script: str, env: dict, pid: int, s: dict, importtime: bool) -> None:
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
        if not importtime:
            return
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

    # --- floors, and where boot time goes (bounds.py) -------------------------

    def boot_profiles(self, tool_list: list[Tool]) -> None:
        self.results["boot_profile"] = bounds.boot_profiles(self.setup, self.projects, tool_list)

    def lower_bounds(self, tool_list: list[Tool]) -> None:
        found = bounds.lower_bounds(
            self.setup, self.projects, tool_list, self.args.repeat, self.say
        )
        self.results.update(found)


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


def add(samples: dict, key: str, value: float) -> None:
    samples.setdefault(key, []).append(value)


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", label).strip("-").lower()


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
    p.add_argument(
        "--mix",
        type=Path,
        help="the model's mix command (default: mix on PATH; a full run as root installs "
        "Debian's elixir and erlang when it is missing)",
    )
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
    # Installing Elixir takes minutes: only a full run does it, never --quick (the smoke test).
    args.install_mix = not args.quick and args.mix is None
    return args


def make_setup(args: argparse.Namespace, work: Path) -> Setup:
    python = args.python.absolute()
    host = tools.base_python(python)
    foreign = sorted(args.only & set(FOREIGN))
    wheelhouse = tools.CACHE / "wheelhouse"
    if args.only & {"pyrelease", "venv", *FOREIGN}:
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
    if "model" in args.only:
        say = lambda message: print(f"* {message}", flush=True)  # noqa: E731
        setup.mix, reason = mixrelease.find_mix(args.mix, args.install_mix, say)
        if reason:
            print(f"* {reason}", flush=True)
            setup.notes.append(f"{reason}; the model's figures come from its reference notes")
    return setup


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="pyrelease-bench-"))
    started = datetime.datetime.now(datetime.UTC)
    load_before = measure.loadavg()
    epmd = None
    try:
        setup = make_setup(args, work)
        bench = Bench(setup, args)
        tool_list = tools.make_tools(setup, args.only, args.variants)
        if setup.mix:
            epmd, epmd_port = mixrelease.start_epmd(work)
            tool_list.append(mixrelease.Model(setup, setup.mix, epmd_port))
        tool_list = bench.builds(tool_list)
        bench.guarded("the release with prune_stdlib = false", bench.prune_off, tool_list)
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
        if "services" in args.only:
            bench.guarded("the command applications", bench.services)
        elapsed = time.monotonic() - bench.began
    finally:
        if epmd is not None:
            epmd.close()
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
