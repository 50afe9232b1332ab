"""``bin/NAME eval`` on the example's release: what it loads, how it reports, how it exits.

eval boots from what the build parsed and compiled (``releases/VSN/boot.cache``,
``runtime.py``'s ``.pyc``) and leaves without the interpreter's finalization when
that has nothing to do; none of it may change what the user sees.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import base_env, build_demo, run

pytestmark = pytest.mark.e2e

GET_ENV = "from pyrelease.node.appconfig import get_env; print(get_env('demo'))"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    project, _ = build_demo(tmp_path_factory.mktemp("evalboot"))
    return project / "_build" / "prod" / "rel" / "demo"


@pytest.fixture
def release(built: Path, tmp_path: Path) -> Path:
    """A copy of the release that a test may edit."""
    return Path(shutil.copytree(built, tmp_path / "demo", symlinks=True))


def script(root: Path) -> Path:
    return root / "bin" / "demo"


def test_the_build_leaves_the_boot_cache(built: Path) -> None:
    vsn = built / "releases" / "0.1.0"
    assert (vsn / "boot.cache").is_file()
    assert list((vsn / "__pycache__").glob("runtime.cpython-3*.pyc"))
    assert (vsn / "node" / "pyrelease" / "node" / "__main__.pyc").is_file()


def test_eval_boots_without_parsing_json_or_compiling(built: Path) -> None:
    code = (
        "import sys; print([m for m in ('_json', 'pyrelease.node.jsonframe', "
        "'pyrelease.node.providers') if m in sys.modules])"
    )
    out = run(script(built), "eval", code, env={"PORT": "4321"})
    assert (out.returncode, out.stdout, out.stderr) == (0, "[]\n", "")
    cfg = run(script(built), "eval", GET_ENV, env={"PORT": "4321", "GREETING": "Hi"})
    assert cfg.stdout == "{'greeting': 'Hi', 'host': '127.0.0.1', 'port': 4321, 'env': 'prod'}\n"


def test_eval_reads_boot_files_edited_after_the_build(release: Path) -> None:
    vsn = release / "releases" / "0.1.0"
    (vsn / "sys.config").write_text('{"demo": {"greeting": "Edited", "host": "0.0.0.0"}}\n')
    runtime = vsn / "runtime.py"
    runtime.write_text(runtime.read_text() + "config('demo', extra='from the edited file')\n")
    out = run(script(release), "eval", GET_ENV, env={"PORT": "99"})
    assert out.stdout == (
        "{'greeting': 'Edited', 'host': '0.0.0.0', 'port': 99, 'env': 'prod', "
        "'extra': 'from the edited file'}\n"
    ), out.stderr
    # An error in the edited file names its line in the file as it is now.
    lines = runtime.read_text().splitlines()
    runtime.write_text("\n".join([*lines[:-1], "config('demo', bad=1 / 0)", ""]))
    bad = run(script(release), "eval", "print(1)")
    assert bad.returncode == 1
    assert bad.stderr == f"ERROR: config/runtime.py line {len(lines)}: ZeroDivisionError: " \
        "division by zero\n"  # fmt: skip


def test_eval_without_the_cache_or_with_a_broken_one_still_boots(release: Path) -> None:
    vsn = release / "releases" / "0.1.0"
    (vsn / "boot.cache").write_bytes(b"\x00not marshal")
    shutil.rmtree(vsn / "__pycache__")
    out = run(script(release), "eval", GET_ENV, env={"PORT": "7"})
    assert out.stdout == "{'greeting': 'Hello', 'host': '127.0.0.1', 'port': 7, 'env': 'prod'}\n"
    (vsn / "boot.cache").unlink()
    assert run(script(release), "eval", GET_ENV, env={"PORT": "7"}).stdout == out.stdout


def test_a_syntax_error_in_eval_code_is_reported_as_the_codes(built: Path) -> None:
    out = run(script(built), "eval", "print(1 +)")
    assert out.returncode == 1
    assert out.stderr.endswith("SyntaxError: invalid syntax\n"), out.stderr
    assert "print(1 +)" in out.stderr
    assert "pyrelease/node" not in out.stderr  # nothing of the node's own frames
    assert "Traceback" not in out.stderr


def test_eval_exits_as_the_interpreter_would(built: Path, tmp_path: Path) -> None:
    # Whatever the interpreter's exit does for the code is still done: buffered
    # files flushed, atexit functions run, threads waited for, cycles collected.
    unflushed = tmp_path / "unflushed.txt"
    code = f"f = open({str(unflushed)!r}, 'w'); f.write('kept')"
    assert run(script(built), "eval", code).returncode == 0
    assert unflushed.read_text() == "kept"
    out = run(script(built), "eval", "import atexit; atexit.register(print, 'at exit')")
    assert out.stdout == "at exit\n"
    code = (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.3), print('thread done'))).start()"
    )
    assert run(script(built), "eval", code).stdout == "thread done\n"
    code = "class C:\n    def __del__(self): print('finalized')\nc = C(); c.me = c\nprint('ran')"
    assert run(script(built), "eval", code).stdout == "ran\nfinalized\n"
    code = "import io, sys; print('to the terminal'); sys.stdout = io.StringIO(); print('kept')"
    assert run(script(built), "eval", code).stdout == "to the terminal\n"
    assert run(script(built), "eval", "raise SystemExit(3)").returncode == 3
    assert run(script(built), "eval", "import sys; sys.exit(4)").returncode == 4


def test_eval_output_into_a_closed_pipe_fails_as_the_interpreter_would(built: Path) -> None:
    # The reader is gone before the output is flushed at exit: exit status 120 and
    # the interpreter's own report. (The code waits so the pipe is closed first.)
    proc = subprocess.Popen(
        [str(script(built)), "eval", "import time; time.sleep(1); print('x')"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=base_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 120, err
    assert "BrokenPipeError" in err


def test_management_commands_run_the_compiled_entry_point(built: Path) -> None:
    out = run(script(built), "eval", "import sys; print(sys.argv[0].rsplit('/', 1)[1])")
    assert out.stdout == "__main__.pyc\n", out.stderr
