"""Scaling: a synthetic service with N installed distributions (1, 20, 100).

```text
WORK/scaling/
  wheels/benchdist_NNN-1.0.0-py3-none-any.whl   built offline by the fixtures' backend
  N/scaleapp/                                   the app, depending on N of them
    pyproject.toml  pylock.toml  _backend.py  config/runtime.py
    src/scaleapp/{__init__,app,__main__}.py
```

The wheels are built in-process with ``tests/fixtures/packages/_backend.py``
(the in-tree PEP 517 backend the tests use: no index, reproducible), and the
lock names them by path and sha256 as ``tests/helpers.py`` does. Each
distribution is one package of a few definitions; importing it costs about as
much as finding it, which is what one ``lib/DIST-VSN/`` per distribution could
make slower than a single ``site-packages``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
from pathlib import Path

from measure import clean_env, free_port, run_timed, running, summarize
from tools import REPO, Setup, lock_entry

BACKEND = REPO / "tests" / "fixtures" / "packages" / "_backend.py"

# The same template the tests use for projects built by the in-tree backend.
PYPROJECT = (BACKEND.parent / "pyproject.toml.in").read_text()

DIST_MODULE = '''"""Synthetic distribution {i} of the scaling benchmark."""

VALUE = {i}


def double(x):
    return 2 * x + VALUE


class Thing:
    def __init__(self, n):
        self.n = n + VALUE
'''

APP_TOOL = """
[tool.pyrelease]
mod = "scaleapp.app:start"

[tool.pyrelease.releases.scaleapp]
include_executables_for = ["unix"]
"""

APP_MODULE = '''"""Imports every synthetic distribution, then answers GET /health."""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

{imports}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"ok\\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def start(ctx):
    with ThreadingHTTPServer(("127.0.0.1", ctx.config.get("port", 4000)), Handler) as server:
        ctx.on_stop(server.shutdown)
        ctx.ready()
        server.serve_forever(poll_interval=0.05)
'''

APP_MAIN = '''"""``python -m scaleapp``: the app outside pyrelease (SIGTERM stops it)."""

import os
import signal
import threading
import types

from scaleapp import app

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
callbacks = []
ctx = types.SimpleNamespace(
    config={"port": int(os.environ.get("PORT", "4000"))},
    on_stop=callbacks.append,
    ready=lambda: None,
    stopping=threading.Event(),
)
thread = threading.Thread(target=app.start, args=(ctx,))
thread.start()
stop.wait()
for fn in reversed(callbacks):
    fn()
thread.join()
'''

RUNTIME_CONFIG = """import os

from pyrelease.node.appconfig import config

config("scaleapp", port=int(os.environ.get("PORT", "4000")))
"""


def module(i: int) -> str:
    return f"benchmod_{i:03d}"


def dist(i: int) -> str:
    return f"benchdist-{i:03d}"


def _load_backend():
    spec = importlib.util.spec_from_file_location("_bench_fixture_backend", BACKEND)
    assert spec and spec.loader
    backend = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(backend)
    return backend


@contextlib.contextmanager
def _cwd(path: Path):
    saved = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(saved)


def build_wheels(base: Path, count: int) -> list[Path]:
    """``count`` tiny distributions as wheels (built offline, in this process)."""
    backend = _load_backend()
    wheels = base / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        project = base / "src" / dist(i)
        (project / "src" / module(i)).mkdir(parents=True)
        (project / "src" / module(i) / "__init__.py").write_text(DIST_MODULE.format(i=i))
        (project / "pyproject.toml").write_text(
            PYPROJECT.format(name=dist(i), deps="[]", extra="", version="1.0.0")
        )
        with _cwd(project):
            backend.build_wheel(str(wheels))
    return sorted(wheels.glob("*.whl"))


def make_app(dest: Path, wheels: list[Path]) -> Path:
    """The scaleapp project depending on every wheel in ``wheels``, with its lock."""
    n = len(wheels)
    project = dest / "scaleapp"
    pkg = project / "src" / "scaleapp"
    pkg.mkdir(parents=True)
    deps = "[" + ", ".join(f'"{dist(i)}"' for i in range(n)) + "]"
    (project / "pyproject.toml").write_text(
        PYPROJECT.format(name="scaleapp", deps=deps, extra=APP_TOOL, version="1.0.0")
    )
    shutil.copyfile(BACKEND, project / "_backend.py")
    (pkg / "__init__.py").write_text(f"MODULES = {[module(i) for i in range(n)]!r}\n")
    imports = "\n".join(f"import {module(i)}  # noqa: F401" for i in range(n))
    (pkg / "app.py").write_text(APP_MODULE.format(imports=imports))
    (pkg / "__main__.py").write_text(APP_MAIN)
    (project / "config").mkdir()
    (project / "config" / "runtime.py").write_text(RUNTIME_CONFIG)
    lines = ['lock-version = "1.0"', 'created-by = "pyrelease-benchmarks"', ""]
    lines += ["[[packages]]", 'name = "scaleapp"', 'directory = { path = "." }', ""]
    for wheel in wheels:
        name, version = wheel.name.split("-")[:2]
        lines += lock_entry(name.replace("_", "-"), version, wheel)
    (project / "pylock.toml").write_text("\n".join(lines))
    return project


def import_snippet(n: int) -> str:
    """One line: import all N modules and print how long that took, in ms."""
    names = ", ".join(module(i) for i in range(n))
    return (
        "import time; t = time.perf_counter_ns(); "
        f"import {names}; "
        "print((time.perf_counter_ns() - t) / 1e6)"
    )


def build_env(setup: Setup, cache: Path, wheels: Path) -> dict[str, str]:
    return clean_env(
        {
            "PIP_CONFIG_FILE": "/dev/null",
            "PIP_NO_INDEX": "1",
            "PIP_FIND_LINKS": f"{wheels} {setup.wheelhouse}",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "XDG_CACHE_HOME": str(cache),
        }
    )


def run_scaling(setup: Setup, counts: list[int], repeat: int, runtimes: Path | None) -> dict:
    """Build time, boot time and import time of the synthetic app for each count.

    ``runtimes`` is a filled pyrelease runtime cache (``XDG_CACHE_HOME/pyrelease``) to reuse.
    """
    base = setup.work / "scaling"
    all_wheels = build_wheels(base, max(counts))
    cache = base / "cache"
    if runtimes is not None and runtimes.is_dir():
        shutil.copytree(runtimes, cache / "pyrelease", symlinks=True)
    else:
        # Bundle the runtime once, untimed: scaling measures growth with N, not the runtime.
        warmup = make_app(base / "warmup", all_wheels[:1])
        _pyrelease_build(setup, warmup, cache, base / "wheels")
    results: dict = {"counts": counts, "runtime_cache": "warm", "rows": {}}
    for n in counts:
        print(f"* scaling: {n} distribution(s)", flush=True)
        results["rows"][str(n)] = _measure_count(setup, base, cache, all_wheels[:n], repeat)
    return results


def _pyrelease_build(setup: Setup, project: Path, cache: Path, wheels: Path) -> float:
    argv = [str(setup.pyrelease_python), "-m", "pyrelease", "build", "--overwrite", "--quiet"]
    result = run_timed(argv, env=build_env(setup, cache, wheels), cwd=project, timeout=900)
    return result.check("pyrelease build (scaling)").ms


def _venv_build(setup: Setup, project: Path, cache: Path, wheels: Path) -> float:
    venv = project / "venv"
    env = build_env(setup, cache, wheels)
    steps = [
        [str(setup.host_python), "-m", "venv", str(venv)],
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "."],
    ]
    return sum(
        run_timed(a, env=env, cwd=project, timeout=900).check("venv build").ms for a in steps
    )


def _boot_ms(argv: list[str], log: Path, extra: dict[str, str] | None = None) -> float:
    port = free_port()
    env = clean_env({"PORT": str(port), **(extra or {})})
    with running(argv, env, log) as node:
        ready = node.wait_ready(port)
        node.terminate()
    return ready


def _measure_count(setup: Setup, base: Path, cache: Path, wheels: list[Path], repeat: int) -> dict:
    n = len(wheels)
    wheel_dir = base / "wheels"
    build: dict[str, list[float]] = {"pyrelease_cold": [], "pyrelease_warm": [], "venv_cold": []}
    project = make_app(base / str(n), wheels)
    build["pyrelease_cold"].append(_pyrelease_build(setup, project, cache, wheel_dir))
    for _ in range(max(1, repeat // 2)):
        build["pyrelease_warm"].append(_pyrelease_build(setup, project, cache, wheel_dir))
    build["venv_cold"].append(_venv_build(setup, project, cache, wheel_dir))
    release = project / "_build" / "prod" / "rel" / "scaleapp"
    bin_script = [str(release / "bin" / "scaleapp")]
    venv_python = str(project / "venv" / "bin" / "python")
    snippet = import_snippet(n)
    samples: dict[str, list[float]] = {
        k: [] for k in ("boot_release", "boot_venv", "import_release", "import_venv",
                        "eval_process_release", "python_process_venv")
    }  # fmt: skip
    log = base / f"node-{n}.log"
    _boot_ms([*bin_script, "start"], log)  # warm-up: page cache, cookie
    for _ in range(repeat):
        samples["boot_release"].append(_boot_ms([*bin_script, "start"], log))
        samples["boot_venv"].append(_boot_ms([venv_python, "-m", "scaleapp"], log))
        out = run_timed([*bin_script, "eval", snippet], env=clean_env()).check("eval (scaling)")
        samples["import_release"].append(float(out.stdout.split()[-1]))
        samples["eval_process_release"].append(out.ms)
        out = run_timed([venv_python, "-I", "-c", snippet], env=clean_env()).check("venv import")
        samples["import_venv"].append(float(out.stdout.split()[-1]))
        samples["python_process_venv"].append(out.ms)
    lib_dirs = len(list((release / "lib").iterdir()))
    return {
        "distributions": n,
        "lib_dirs": lib_dirs,
        "build": {k: summarize(v, "ms") for k, v in build.items()},
        **{k: summarize(v, "ms") for k, v in samples.items()},
    }
