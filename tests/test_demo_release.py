"""The user's story with the example project: build it, start it, talk to it, stop it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import urllib.request
from pathlib import Path

import pytest

from helpers import (
    DEMO,
    build_demo,
    copy_project,
    free_port,
    http_get,
    node,
    pyrelease,
    run,
    wait_http,
)

pytestmark = pytest.mark.e2e


def _fnv1a(data: bytes) -> int:
    """64-bit FNV-1a in Python, to check the demo's C extension against."""
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    return build_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture(scope="module")
def script(demo: tuple[Path, subprocess.CompletedProcess]) -> Path:
    return demo[0] / "_build" / "prod" / "rel" / "demo" / "bin" / "demo"


def test_build_prints_progress_and_how_to_start(demo) -> None:
    _, result = demo
    out = result.stdout
    assert "* assembling demo-0.1.0 on PYRELEASE_ENV=prod" in out
    assert "* using config/runtime.py to configure the release at runtime" in out
    assert "Release created at _build/prod/rel/demo" in out
    assert "_build/prod/rel/demo/bin/demo start" in out


def test_release_layout(script: Path) -> None:
    root = script.parent.parent
    assert (root / "releases" / "start_erl.data").read_text() == "3.11.7 0.1.0" or (
        root / "releases" / "start_erl.data"
    ).read_text().endswith(" 0.1.0")
    libs = sorted(p.name for p in (root / "lib").iterdir())
    # Every distribution is a local package of the example: the C extension is compiled.
    assert libs == ["demo-0.1.0", "demo_extra-0.2.0", "demo_speedups-0.1.0"]
    assert list((root / "lib" / "demo_speedups-0.1.0" / "demo_speedups").glob("_fnv.*.so"))
    vsn = root / "releases" / "0.1.0"
    for name in (
        "start.json",
        "start_clean.json",
        "sys.config",
        "runtime.py",
        "vm.args",
        "remote.vm.args",
        "env.sh",
        "build_info.json",
    ):
        assert (vsn / name).is_file(), name
    assert not (vsn / "env.bat").exists()  # include_executables_for = ["unix"]
    assert (root / "README.release.txt").is_file()  # the overlay
    assert not (root / "releases" / "COOKIE").exists()  # a secret is never a build output
    info = json.loads((vsn / "build_info.json").read_text())
    assert info["triple"].endswith("-linux-gnu")
    assert "libc.so.6" in info["needed_libs"]
    start = json.loads((vsn / "start.json").read_text())
    order = [a["name"] for a in start["applications"]]
    assert order.index("demo-speedups") < order.index("demo")
    assert order[-1] == "demo-extra"
    # demo.views is imported by a function of the start callable's module, and brings
    # the C extension.
    assert start["preload"][0] == "demo.app"
    assert {"demo.views", "demo_speedups", "demo_speedups._fnv"} <= set(start["preload"])


def test_strip_keeps_the_projects_sources_and_no_build_paths(demo, script: Path) -> None:
    project, result = demo
    root = script.parent.parent
    app = root / "lib" / "demo-0.1.0" / "demo"  # the project's own: sources kept
    assert (app / "app.py").is_file() and list((app / "__pycache__").glob("app.*.pyc"))
    assert not (app / "app.pyc").exists()
    assert "strip: sources kept for demo, demo-extra, demo-speedups (the project's own)" in (
        result.stdout
    )
    needle = str(project).encode()
    offenders = [
        p
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink() and needle in p.read_bytes()
    ]
    assert offenders == []


def test_version_and_usage(script: Path) -> None:
    out = run(script, "version")
    assert (out.returncode, out.stdout) == (0, "demo 0.1.0\n")
    usage = run(script)
    assert usage.returncode == 0
    assert "Usage: demo COMMAND [ARGS]" in usage.stderr
    for cmd in ("start", "eval", "version"):
        assert f"    {cmd}" in usage.stderr
    bad = run(script, "frobnicate")
    assert bad.returncode == 1
    assert "ERROR: Unknown command frobnicate" in bad.stderr


def test_eval_runs_code_with_release_and_config(script: Path) -> None:
    out = run(script, "eval", "import demo, sys; print(demo.__version__, sys.flags.isolated)")
    assert out.returncode == 0, out.stderr
    assert out.stdout == "0.1.0 1\n"
    cfg = run(
        script,
        "eval",
        "from pyrelease.node.appconfig import get_env; print(get_env('demo', 'port'))",
        env={"PORT": "4321"},
    )
    assert cfg.stdout == "4321\n", cfg.stderr


def test_eval_errors_and_exit_codes(script: Path) -> None:
    missing = run(script, "eval")
    assert missing.returncode == 1
    assert "ERROR: EVAL expects an expression as argument" in missing.stderr
    boom = run(script, "eval", "1/0")
    assert boom.returncode == 1
    assert "ZeroDivisionError" in boom.stderr
    assert "pyrelease/node/main.py" not in boom.stderr
    assert "pyrelease/node/evaluate.py" not in boom.stderr
    code = run(script, "eval", "raise SystemExit(3)")
    assert code.returncode == 3


def test_eval_imports_only_what_loading_the_release_needs(script: Path) -> None:
    # eval loads the release and its configuration, nothing of the node that
    # starts applications; what the code imports itself is still there.
    heavy = ("json", "re", "copy", "threading", "queue", "signal", "enum", "importlib",
             "pyrelease.node.main", "pyrelease.node.applications")  # fmt: skip
    code = f"import sys; print([m for m in {heavy!r} if m in sys.modules])"
    out = run(script, "eval", code)
    assert out.stdout == "[]\n", out.stderr
    used = run(
        script, "eval", "import json, threading; print(json.dumps([threading.get_ident() > 0]))"
    )
    assert used.stdout == "[true]\n", used.stderr


def test_eval_starts_no_application(script: Path) -> None:
    out = run(script, "eval", "import sys; print('demo_extra' in sys.modules)")
    assert out.stdout == "False\n"
    assert "demo_extra started" not in out.stdout


def test_start_serves_http_and_sigterm_stops_in_reverse_order(script: Path) -> None:
    port = free_port()
    with node(script, {"PORT": str(port), "GREETING": "Hi"}) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc)
        assert status == 200
        assert "Hi from demo 0.1.0" in body
        # The page's ETag is the FNV-1a hash of the body, computed by the C extension.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/page", timeout=10) as page:
            html = page.read()
            assert page.headers["ETag"] == f'"{_fnv1a(html):016x}"'
        assert b"<h1>Hi from demo 0.1.0!</h1>" in html
        _, info = http_get(f"http://127.0.0.1:{port}/info")
        data = json.loads(info)
        root = str(script.parent.parent)
        # the release's interpreter: children started with it see the release
        assert data["executable"] == root + "/releases/0.1.0/bin/python"
        assert data["isolated"] == 1
        assert "" not in data["sys_path"] and os.getcwd() not in data["sys_path"]
        assert all(p.startswith(root) for p in data["sys_path"])
        n.wait_for("demo_extra started")
        n.signal(signal.SIGTERM)
        assert n.wait(15) == 0
        out = n.output()
    assert out.index("application demo-extra stopped") < out.index("application demo stopped")
    assert "demo_extra stopping" in out


def test_embedded_mode_preloads_and_interactive_does_not(script: Path) -> None:
    for mode, expected in (("embedded", True), ("interactive", False)):
        port = free_port()
        with node(script, {"PORT": str(port), "RELEASE_MODE": mode}) as n:
            wait_http(f"http://127.0.0.1:{port}/health", n.proc)
            _, info = http_get(f"http://127.0.0.1:{port}/info")
            # /info is answered before / ever imports demo.views lazily.
            assert json.loads(info)["modules"]["demo.views"] is expected, mode


def test_runs_after_move_with_build_python_hidden(script: Path, tmp_path: Path) -> None:
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"unshare --mount is not permitted here: {probe.stderr.decode().strip()}")
    moved = tmp_path / "elsewhere" / "demo"
    # tmp/ is runtime state (sockets, pids), never part of what is shipped.
    shutil.copytree(
        script.parent.parent, moved, symlinks=True, ignore=shutil.ignore_patterns("tmp")
    )
    prefix = Path(os.path.realpath(shutil.which("python3.11") or "/usr/bin/python3")).parents[1]
    pyenv = Path("/root/.pyenv")
    hide = [str(p) for p in (prefix, pyenv) if p.exists()]
    mounts = " && ".join(f"mount -t tmpfs tmpfs {h}" for h in hide)
    code = "import sys, ssl, json, demo_speedups._fnv; print(sys.prefix)"
    cmd = f"{mounts} && {moved}/bin/demo eval '{code}'"
    out = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", cmd],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().startswith(str(moved))


def test_rebuild_without_overwrite_refuses_without_terminal(demo) -> None:
    project, _ = demo
    readme = project / "README.md"
    readme.write_text(readme.read_text() + "\nedited\n")  # else it is up to date: no question
    again = pyrelease("build", cwd=project, input="")
    assert again.returncode == 1
    assert "release demo-0.1.0 already exists" in again.stderr
    assert "--overwrite" in again.stderr
    assert "Traceback" not in again.stderr


def test_a_release_for_another_python_compiles_its_extension_for_that_python(
    tmp_path: Path,
) -> None:
    # pyrelease runs on 3.11; the release bundles 3.12: the demo's C extension must
    # be built for 3.12 (pip's wheel for the build environment's Python), or it
    # cannot even be installed there.
    runtime = Path("/root/.pyenv/versions/3.12.1")
    if not (runtime / "bin" / "python3.12").exists():
        pytest.skip(f"CPython 3.12 is not installed at {runtime}")
    project = copy_project(DEMO, tmp_path / "demo")
    built = pyrelease("build", "--include-runtime", str(runtime), cwd=project)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    script = project / "_build" / "prod" / "rel" / "demo" / "bin" / "demo"
    out = run(script, "eval", "import demo_speedups, sys; print(sys.version_info[:2], "
              "demo_speedups.fnv1a(b'a'))")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout == f"(3, 12) {0xAF63DC4C8601EC8C}\n"
