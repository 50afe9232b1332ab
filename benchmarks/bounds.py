"""Floors and where boot time goes: what a run's figures are compared with.

* ``lower_bounds``: on the same machine, in the same run, the bare interpreters
  (``python -I -c pass``, ``-I -S``, the release's own runtime), ``/bin/sh``,
  ``cp -a`` of the build environment and of the release, gzip of the release's
  bytes, importing the app in the venv.
* ``boot_profiles``: one start of the main release and of the venv under
  ``-X importtime``, the import time split by origin.
"""

from __future__ import annotations

import shutil

import measure
from measure import clean_env, free_port, run_timed, running, summarize
from targets import MAIN_BUILD
from tools import Pyrelease, Setup, Tool


def boot_profiles(setup: Setup, projects: dict, tool_list: list[Tool]) -> dict:
    """One start of the main release and of the venv under ``-X importtime``."""
    by_label = {t.label: t for t in tool_list}
    profiles = {}
    for label, extra in ((MAIN_BUILD, {"RELEASE_MODE": "embedded"}), ("venv", {})):
        tool = by_label.get(label)
        if tool is None:
            continue
        vm_args = setup.work / "importtime.vm.args"
        vm_args.write_text("-X importtime\n")
        if isinstance(tool, Pyrelease):  # the node re-executes itself with vm.args flags
            extra = {**extra, "RELEASE_VM_ARGS": str(vm_args)}
        else:
            extra = {**extra, "PYTHONPROFILEIMPORTTIME": "1"}
        project, _ = projects[tool.label]
        port = free_port()
        log = setup.work / "logs" / f"importtime-{label.split()[0]}.log"
        env = clean_env({"PORT": str(port), **extra})
        with running(tool.start_argv(project), env, log) as node:
            node.wait_ready(port)
            node.terminate()
        profiles[label] = categorize_imports(measure.importtime_top(log.read_text()))
    return profiles


def lower_bounds(setup: Setup, projects: dict, tool_list: list[Tool], repeat: int, say) -> dict:
    """Each floor ``repeat`` times (ms), and the peak RSS of the bare interpreters."""
    by_label = {t.label: t for t in tool_list}
    host = str(setup.host_python)
    checks: dict[str, list[str]] = {
        "python -I -c pass": [host, "-I", "-c", "pass"],
        "python -I -S -c pass": [host, "-I", "-S", "-c", "pass"],
        "/bin/sh -c :": ["/bin/sh", "-c", ":"],
    }
    main = by_label.get(MAIN_BUILD)
    if main is not None:
        project, _ = projects[main.label]
        release = main.artifact(project)
        runtime = next(iter(sorted(release.glob("runtime-*/bin/python3.[0-9]*"))), None)
        if runtime is not None:
            checks["release runtime -I -S -c pass"] = [str(runtime), "-I", "-S", "-c", "pass"]
        copies = setup.work / "copies"
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
        python = str(venv.artifact(projects[venv.label][0]) / "bin" / "python")
        checks["import the app in the venv"] = [
            python,
            "-c",  # demo.views is the lazily imported page, where the demo has one
            "import demo.app, demo_extra, importlib.util as u;"
            " u.find_spec('demo.views') and __import__('demo.views')",
        ]
    samples: dict[str, list[float]] = {name: [] for name in checks}
    for i in range(repeat):
        say(f"lower bounds {i + 1}/{repeat}")
        for name, argv in checks.items():
            shutil.rmtree(setup.work / "copies", ignore_errors=True)
            samples[name].append(run_timed(argv, timeout=300).check(name).ms)
    shutil.rmtree(setup.work / "copies", ignore_errors=True)
    rss = {}
    for name in ("python -I -S -c pass", "release runtime -I -S -c pass"):
        if name in checks:
            rss[name] = measure.peak_rss_kb(checks[name])
    return {
        "lower_bounds": {name: summarize(v) for name, v in samples.items()},
        "lower_bounds_rss_kb": rss,
    }


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
