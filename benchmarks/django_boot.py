"""Django boot: embedded mode against interactive mode, same release.

```sh
.venv/bin/python benchmarks/django_boot.py            # 7 rounds of each mode, about 1 minute
.venv/bin/python benchmarks/django_boot.py --rounds 3
```

Builds the Django site of the tests (``tests/fixtures/packages/djsite``: a start
callable serving Django's WSGI application with wsgiref) with Django from the
package index (wheels downloaded once into ``benchmarks/.cache/django-wheels/``,
git-ignored), then starts it alternately with ``RELEASE_MODE=embedded`` and
``interactive`` and times ``start`` → first HTTP 200 on ``/`` (the page renders
through Django's URL resolver, middleware and view). Also prints the node's own
preload summary line.

Target: embedded boot within 1.5x the interactive boot (the preload is what the
start callable reaches, so it moves imports earlier instead of adding them).
"""

from __future__ import annotations

import argparse
import hashlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import clean_env, free_port, running

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "packages"
CACHE = Path(__file__).resolve().parent / ".cache" / "django-wheels"
DJANGO = "django>=5.2,<6"
TARGET = 1.5


def wheels() -> list[Path]:
    """Django and its requirements, downloaded once."""
    if not list(CACHE.glob("django-*.whl")):
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--only-binary", ":all:",
             "--dest", str(CACHE), DJANGO],
            check=True,
        )  # fmt: skip
    return sorted(CACHE.glob("*.whl"))


def build(work: Path, python: str) -> Path:
    """Copy the fixture site, lock it against the cached wheels, build the release."""
    project = work / "djsite"
    shutil.copytree(FIXTURES / "djsite", project)
    shutil.copyfile(FIXTURES / "_backend.py", project / "_backend.py")
    lines = ['lock-version = "1.0"', 'created-by = "pyrelease-benchmarks"', ""]
    lines += ["[[packages]]", 'name = "djsite"', 'directory = { path = "." }', ""]
    for wheel in wheels():
        name, version = wheel.name.split("-")[:2]
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        lines += [
            "[[packages]]", f'name = "{name.replace("_", "-")}"', f'version = "{version}"',
            "[[packages.wheels]]", f'name = "{wheel.name}"', f'path = "{wheel}"',
            f'hashes = {{ sha256 = "{digest}" }}', "",
        ]  # fmt: skip
    (project / "pylock.toml").write_text("\n".join(lines))
    subprocess.run([python, "-m", "pyrelease", "build", "--quiet"], cwd=project, check=True)
    return project / "_build" / "prod" / "rel" / "djsite" / "bin" / "djsite"


def boot_ms(script: Path, mode: str, log: Path) -> tuple[float, str]:
    """Start → first 200 on ``/`` in ms, and the node's preload summary line."""
    port = free_port()
    env = clean_env({"RELEASE_MODE": mode, "DJSITE_PORT": str(port)})
    with running([str(script), "start"], env, log) as node:
        took = node.wait_ready(port, "/", timeout=120)
        node.terminate()
        found = re.search(r"preloaded .*", node.log())
    log.unlink()
    return took, found.group(0) if found else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="starts of each mode (default 7)")
    parser.add_argument("--python", default=str(REPO / ".venv" / "bin" / "python"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="django-boot-") as tmp:
        script = build(Path(tmp), args.python)
        log = Path(tmp) / "node.log"
        boot_ms(script, "embedded", log)  # untimed warm-up: page cache, .pyc reads
        samples: dict[str, list[float]] = {"embedded": [], "interactive": []}
        summary = ""
        for _ in range(args.rounds):
            for mode in samples:  # interleaved, so machine load hits both alike
                took, line = boot_ms(script, mode, log)
                samples[mode].append(took)
                summary = line or summary
    embedded, interactive = (statistics.median(samples[m]) for m in samples)
    ratio = embedded / interactive
    print(f"| mode | start → first 200 on `/` (median of {args.rounds}) |")
    print("|---|---|")
    print(f"| embedded | {embedded:.0f} ms |")
    print(f"| interactive | {interactive:.0f} ms |")
    print(f"\nembedded / interactive = {ratio:.2f} (target ≤ {TARGET}): "
          f"{'PASS' if ratio <= TARGET else 'MISS'}")  # fmt: skip
    print(f"node: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
