"""The three rebuild figures of pyrelease, side by side with another commit if asked.

    .venv/bin/python benchmarks/rebuilds.py                  # 5 rounds of the working tree
    .venv/bin/python benchmarks/rebuilds.py --compare main   # and main's code, interleaved

Each round, for each variant in turn (so a busy machine slows all alike):

* ``force``: ``pyrelease build --force --overwrite`` of the example, every cache warm;
* ``edit``: one line appended to ``src/demo/stats.py`` (another for each variant and
  each run: the wheels of local packages are shared by every project, keyed by their
  sources), then ``pyrelease build --overwrite``;
* ``fresh``: a new copy of the example (no ``_build/``), ``pyrelease build``, with the
  user's caches (uv's, pip's, ``~/.cache/pyrelease``) as they are: warm after the
  first round.

``--compare REF`` runs the code of a git commit (``git archive`` into a temporary
folder, put first on ``PYTHONPATH``) with the same interpreter. Prints a Markdown
table (median [min-max] seconds) with the load average, and writes the samples as
JSON with ``--json``.

pyrelease is measured as users install it: an installed wheel has its modules
compiled at install time, while this checkout runs from its sources, and with
``PYTHONDONTWRITEBYTECODE`` set (as on the benchmark machine) every run would
compile pyrelease's own modules again (about 0.1 s). So each variant's ``src/``
(the working tree's too) is copied into a temporary folder, compiled there once
with ``compileall`` (what pip and uv do on install), and put first on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo"
TARGETS = {"force": 1.0, "edit": 0.5, "fresh": 3.0}
LABELS = {
    "force": "rebuild after `--force`, every cache warm",
    "edit": "rebuild after editing one source file",
    "fresh": "first build of a fresh copy, caches warm",
}


def copy_demo(dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    ignore = shutil.ignore_patterns("_build", "__pycache__", "*.egg-info", "build")
    shutil.copytree(DEMO, dest, ignore=ignore)
    return dest


def build(python: str, env: dict[str, str], project: Path, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run([python, "-m", "pyrelease", "build", "--overwrite", *args],
                          cwd=project, env=env, capture_output=True, text=True)  # fmt: skip
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"pyrelease build failed in {project}:\n{proc.stderr[-3000:]}")
    return took


def archive(ref: str, dest: Path) -> Path:
    """The ``src/`` of commit ``ref``, extracted below ``dest``."""
    tar = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "src"], capture_output=True)
    if tar.returncode != 0:
        raise SystemExit(f"git archive {ref} failed: {tar.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=tar.stdout, check=True)
    return dest / "src"


def copy_tree_src(dest: Path) -> Path:
    """The working tree's ``src/`` (uncommitted changes included), copied below ``dest``."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    shutil.copytree(ROOT / "src", dest / "src", ignore=ignore)
    return dest / "src"


def precompile(python: str, src: Path) -> Path:
    """Compile ``src``'s modules as an install would (``__pycache__`` beside them)."""
    subprocess.run([python, "-m", "compileall", "-q", str(src)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return src


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--compare", metavar="REF", help="also run this git commit's code")
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"))
    parser.add_argument("--json", type=Path, help="write the samples here")
    args = parser.parse_args(argv)
    if not (DEMO / "pylock.toml").is_file():
        raise SystemExit("examples/demo/pylock.toml is missing: run ./scripts/setup first")
    work = Path(tempfile.mkdtemp(prefix="pyrelease-rebuilds-"))
    try:
        this = precompile(args.python, copy_tree_src(work / "this"))
        variants = {"this tree": {**os.environ, "PYTHONPATH": str(this)}}
        if args.compare:
            (work / "ref").mkdir()
            src = precompile(args.python, archive(args.compare, work / "ref"))
            variants[args.compare] = {**os.environ, "PYTHONPATH": str(src)}
        samples = {v: {k: [] for k in TARGETS} for v in variants}
        run = os.urandom(4).hex()
        loads = [os.getloadavg()[0]]
        for i, env in enumerate(variants.values()):  # each project built once
            build(args.python, env, copy_demo(work / f"v{i}" / "demo"))
        for n in range(args.rounds):
            for i, (variant, env) in enumerate(variants.items()):
                project = work / f"v{i}" / "demo"
                samples[variant]["force"].append(build(args.python, env, project, "--force"))
                stats = project / "src" / "demo" / "stats.py"
                # Lines of their own: no wheel of the same sources from the other variant
                # or an earlier run is in the cache (such sources are installed another way).
                line = f"\n# edited in round {n} by {variant} in run {run}\n"
                stats.write_text(stats.read_text() + line)
                samples[variant]["edit"].append(build(args.python, env, project))
                fresh = copy_demo(work / f"v{i}" / f"fresh-{n}" / "demo")
                samples[variant]["fresh"].append(build(args.python, env, fresh))
                shutil.rmtree(fresh.parent, ignore_errors=True)
                loads.append(os.getloadavg()[0])
            print(f"* round {n + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{args.rounds} interleaved rounds; load average {min(loads):.1f} to {max(loads):.1f} "
          f"on {os.cpu_count()} CPUs\n")  # fmt: skip
    names = list(variants)
    print("| figure | target | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for key, limit in TARGETS.items():
        cells = []
        for v in names:
            values = samples[v][key]
            cells.append(f"{statistics.median(values):.2f} [{min(values):.2f}-{max(values):.2f}]")
        status = "PASS" if statistics.median(samples[names[0]][key]) <= limit else "MISS"
        print(f"| {LABELS[key]} | ≤ {limit} s ({status}) | " + " | ".join(cells) + " |")
    if args.json:
        args.json.write_text(json.dumps({"samples": samples, "load": loads}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
