"""The release's own interpreter: console scripts through ``bin/NAME exec``, ``bin/NAME
python``, and ``sys.executable`` inside a running node, which children (subprocess,
multiprocessing) use to see the release and nothing of the host."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import base_env, free_port, http_get, make_dist, node, pyrelease, run, wait_http

pytestmark = pytest.mark.e2e

APP = '''
import json, multiprocessing, os, subprocess, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from pyrelease.node.appconfig import get_env


def describe():
    """What a process of the release sees: printed as JSON by the console script."""
    import svcs
    return {
        "argv": sys.argv,
        "executable": sys.executable,
        "greeting": get_env("svcs", "greeting"),
        "svcs": svcs.__file__,
        "data": os.environ.get("RELEASE_DATA"),
        "path_has_cwd": any(p in ("", ".", os.getcwd()) for p in sys.path),
    }


def tool():
    print(json.dumps(describe()))
    return int(os.environ.get("SVCS_EXIT", "0"))


def square(x):
    return x * x


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/child":  # a child started the usual way from inside the node
            out = subprocess.run([sys.executable, "-m", "svcs.probe"],
                                 capture_output=True, text=True, timeout=120)
            body = out.stdout if out.returncode == 0 else "FAILED " + out.stderr
        elif self.path == "/pool":  # multiprocessing's spawn: sys.executable again
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                body = json.dumps(pool.map(square, [1, 2, 3]))
        else:
            body = json.dumps(describe())
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def start(ctx):
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["SVCS_PORT"])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ctx.on_stop(server.shutdown)
    return server
'''

PROBE = """
import json, sys
from svcs.app import describe
print(json.dumps(describe()))
"""

RUNTIME = """
import os
from pyrelease.node.appconfig import config
config("svcs", greeting=os.environ.get("GREETING", "hello"))
"""


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("relpy")
    extra = (
        '[project.scripts]\nsvcs-tool = "svcs.app:tool"\n\n'
        '[tool.pyrelease]\nmod = "svcs.app:start"\n'
    )
    project = make_dist(base, "svcs", "svcs", APP, "[]", extra)
    (project / "src" / "svcs" / "probe.py").write_text(PROBE)
    (project / "config").mkdir()
    (project / "config" / "runtime.py").write_text(RUNTIME)
    (project / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "t"\n\n[[packages]]\nname = "svcs"\n'
        'directory = { path = "." }\n'
    )
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    return project / "_build" / "prod" / "rel" / "svcs" / "bin" / "svcs"


def hostile_env(tmp: Path) -> dict[str, str]:
    """A host whose Python settings would shadow the release: a `svcs` package on
    PYTHONPATH and in the working directory."""
    fake = tmp / "host"
    (fake / "svcs").mkdir(parents=True, exist_ok=True)
    (fake / "svcs" / "__init__.py").write_text("raise ImportError('the host copy was imported')")
    return {"PYTHONPATH": str(fake), "PYTHONHOME": str(fake), "GREETING": "from env"}


def test_exec_runs_a_console_script_with_config_loaded(script: Path, tmp_path: Path) -> None:
    env = {**hostile_env(tmp_path), "RELEASE_DATA": str(tmp_path / "data")}
    result = subprocess.run(
        [str(script), "exec", "svcs-tool", "--flag", "x y"],
        env={**base_env(), **env}, cwd=tmp_path / "host", capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    root = script.parent.parent
    assert seen["argv"] == [str(root / "releases" / "1.0.0" / "bin" / "svcs-tool"), "--flag", "x y"]
    assert seen["greeting"] == "from env"  # runtime.py ran
    assert seen["svcs"].startswith(str(root / "lib")), seen
    assert seen["executable"] == str(root / "releases" / "1.0.0" / "bin" / "python")
    assert not seen["path_has_cwd"]
    assert seen["data"] == str(tmp_path / "data") and (tmp_path / "data").is_dir()


def test_exec_passes_the_exit_status_and_refuses_unknown_scripts(script: Path) -> None:
    assert run(script, "exec", "svcs-tool", env={"SVCS_EXIT": "3"}).returncode == 3
    result = run(script, "exec", "svcs-tol")
    assert result.returncode == 1
    assert result.stderr.startswith("ERROR: 'svcs-tol' is not a console script"), result.stderr
    assert "did you mean 'svcs-tool'?" in result.stderr and "Traceback" not in result.stderr
    result = run(script, "exec")
    assert result.returncode == 2 and "ERROR: exec expects" in result.stderr


def test_exec_module_and_python(script: Path, tmp_path: Path) -> None:
    result = run(script, "exec", "-m", "svcs.probe", env=hostile_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["greeting"] == "from env"
    code = "import sys, svcs; print(sys.argv[1:], svcs.__name__, __name__)"
    result = run(script, "python", "-c", code, "a", "-b", env=hostile_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "['a', '-b'] svcs __main__\n"
    # flags as CPython has them, start-up ones applied by a second start of the runtime
    result = run(script, "python", "-I", "-S", "-O", "-X", "dev", "-c",
                 "import sys; print(sys.flags.optimize, sys.flags.dev_mode)")  # fmt: skip
    assert result.stdout == "1 True\n", result.stderr
    result = run(script, "python", "-c", "raise SystemExit(4)")
    assert result.returncode == 4
    result = run(script, "python", "-c", "1/0")
    assert result.returncode == 1 and "ZeroDivisionError" in result.stderr
    assert "interp.py" not in result.stderr  # the user's frames only
    result = subprocess.run([str(script), "python", "-"], input="print(6*7)\n",
                            env=base_env(), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.stdout == "42\n", result.stderr
    result = run(script, "python", "-Z")
    assert result.returncode == 2 and result.stderr.startswith("ERROR: Unknown option: -Z")


def test_console_scripts_are_relocatable_launchers(script: Path, tmp_path: Path) -> None:
    root = script.parent.parent
    bin_dir = root / "releases" / "1.0.0" / "bin"
    assert sorted(p.name for p in bin_dir.iterdir()) == ["__pycache__", "python", "svcs-tool"]
    assert sorted(p.name for p in (root / "bin").iterdir()) == ["svcs", "svcs.bat"]
    for path in [*bin_dir.iterdir(), *(bin_dir / "__pycache__").iterdir()]:
        if path.is_file():  # the launchers, the scripts' .pyc files
            assert str(root).encode() not in path.read_bytes() and b"/tmp" not in path.read_bytes()
    moved = shutil.copytree(root, tmp_path / "elsewhere", symlinks=True)
    # run directly, with no RELEASE_* set, from an unrelated directory
    result = subprocess.run(
        [str(moved / "releases" / "1.0.0" / "bin" / "svcs-tool")],
        env={**base_env(), **hostile_env(tmp_path)}, cwd=tmp_path / "host",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["svcs"].startswith(str(moved / "lib")), seen
    assert seen["executable"] == str(moved / "releases" / "1.0.0" / "bin" / "python")


def test_the_python_launcher_keeps_the_callers_directory_and_environment(
    script: Path, tmp_path: Path
) -> None:
    """``releases/VSN/bin/python`` finds its release (symlinks resolved) without a
    subshell, by going there and back: the caller's directory, PWD and OLDPWD stay."""
    root = script.parent.parent
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    real, link = tmp_path / "work", tmp_path / "work-link"
    real.mkdir()
    link.symlink_to(real)
    launcher = alias / "releases" / "1.0.0" / "bin" / "python"
    code = (
        "import os, sys; print(sys.executable, os.environ['RELEASE_ROOT'], os.getcwd(),"
        " os.environ.get('PWD'), os.environ.get('OLDPWD', '-'))"
    )
    for oldpwd in ("/var/empty", None):
        env = {**base_env(), "PWD": str(link)}
        env.pop("OLDPWD", None)
        if oldpwd:
            env["OLDPWD"] = oldpwd
        out = subprocess.run([str(launcher), "-c", code], cwd=link, env=env,
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        assert out.returncode == 0, out.stderr
        executable = str(root.resolve() / "releases" / "1.0.0" / "bin" / "python")
        assert out.stdout.split() == [executable, str(root.resolve()), str(real), str(link),
                                      oldpwd or "-"]  # fmt: skip
    gone = subprocess.run(
        ["sh", "-c", 'mkdir gone && cd gone && rmdir ../gone && exec "$0" -c "$1"',
         launcher, "import os; print(os.environ['RELEASE_ROOT'])"],
        cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == f"{root.resolve()}\n"


def test_children_of_the_node_see_the_release(script: Path, tmp_path: Path) -> None:
    port = free_port()
    env = {**hostile_env(tmp_path), "SVCS_PORT": str(port)}
    with node(script, env) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=60)
        assert status == 200
        assert json.loads(body)["executable"].endswith("/releases/1.0.0/bin/python")
        status, body = http_get(f"http://127.0.0.1:{port}/child", timeout=120)
        assert status == 200 and not body.startswith("FAILED"), body
        child = json.loads(body)
        assert child["svcs"].startswith(str(script.parent.parent / "lib")), child
        assert child["greeting"] == "from env" and not child["path_has_cwd"]
        status, body = http_get(f"http://127.0.0.1:{port}/pool", timeout=120)
        assert (status, body) == (200, "[1, 4, 9]"), n.output()
        n.signal(15)
        assert n.wait(60) == 0


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root`` with its mode, size and modification time."""
    found = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return found


def test_a_read_only_release_starts_answers_and_stops(script: Path, tmp_path: Path) -> None:
    """chmod -R a-w on the release: runtime files go to RELEASE_DATA/tmp, the cookie
    made at first start too; nothing under the release changes."""
    root = shutil.copytree(script.parent.parent, tmp_path / "ro", symlinks=True)
    shutil.rmtree(root / "tmp", ignore_errors=True)
    (root / "releases" / "COOKIE").unlink(missing_ok=True)
    ro_script = root / "bin" / "svcs"
    subprocess.run(["chmod", "-R", "a-w", str(root)], check=True)
    before = snapshot(root)
    data = tmp_path / "state" / "svcs"
    port = free_port()
    env = {"RELEASE_DATA": str(data), "SVCS_PORT": str(port)}
    try:
        with node(ro_script, env) as n:
            status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=60)
            assert status == 200 and json.loads(body)["data"] == str(data)
            pid = run(ro_script, "pid", env=env)
            assert pid.returncode == 0 and pid.stdout.strip() == str(n.proc.pid), pid.stderr
            rpc = run(ro_script, "rpc", "import os; print(os.environ['RELEASE_TMP'])", env=env)
            assert rpc.stdout.strip() == str(data / "tmp"), rpc.stderr
            assert (data / "tmp" / "COOKIE").is_file()
            assert (data / "tmp" / "COOKIE").stat().st_mode & 0o777 == 0o400
            stop = run(ro_script, "stop", env=env)
            assert stop.returncode == 0, stop.stderr
            assert n.wait(60) == 0, n.output()
        assert snapshot(root) == before
        daemon = run(ro_script, "daemon", env=env, timeout=120)
        assert daemon.returncode == 0, daemon.stdout + daemon.stderr
        assert run(ro_script, "pid", env=env).returncode == 0
        assert run(ro_script, "stop", env=env).returncode == 0
        assert (data / "tmp" / "log").is_dir()
        assert snapshot(root) == before
    finally:
        run(ro_script, "stop", env=env)
        subprocess.run(["chmod", "-R", "u+w", str(root)], check=True)
