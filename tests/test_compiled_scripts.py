"""The release's interpreter runs a console script from the ``.pyc`` the build wrote beside
it (``releases/VSN/bin/__pycache__/``) and ``-c`` code as CPython's ``python -c`` does: in
neither case does it call the ``compile()`` built-in, whose first call in a process builds
all of the ``ast`` node classes (about a millisecond of every start).

Whether that happened is seen from inside the process: ``ast.AST``, the base of those
classes, is a subclass of ``object`` once built (``object.__subclasses__()`` lists it,
whatever the garbage collector tracks or has frozen), and it is built by ``compile()`` or
by importing ``ast`` (which the probe never does), never by running a ``.pyc`` or by
``exec`` of a text. Each test that expects "not built" has a counterpart in the same
release that expects "built" (an edited script, a user's file), so the probe is seen to
work."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers import base_env, build_local, copy_project, make_dist, node, pyrelease, run, wait_file

pytestmark = pytest.mark.e2e

APP = """
import json, os, sys, time


def ast_built():
    return any(c.__module__ == "ast" and c.__name__ == "AST" for c in object.__subclasses__())


def report():
    script = sys._getframe(2).f_code  # the console script's module code (it called probe)
    return {"ast": ast_built(), "co_filename": script.co_filename, "argv": sys.argv,
            "annotations": repr(report_annotations.__annotations__)}


def report_annotations(x: int) -> None:
    pass


def probe():
    if os.environ.get("PROBE_RAISE"):
        raise ValueError("probe failed")
    seen = report()
    if "--serve" in sys.argv:  # as the node's command application
        data = os.environ["RELEASE_DATA"]
        with open(os.path.join(data, "probe.tmp"), "w") as f:
            json.dump(seen, f)
        os.replace(os.path.join(data, "probe.tmp"), os.path.join(data, "probe.json"))
        while True:
            time.sleep(0.05)
    print(json.dumps(seen))
    return 0
"""

AST_BUILT = (
    'print(any(c.__module__ == "ast" and c.__name__ == "AST" for c in object.__subclasses__()))'
)


@pytest.fixture(scope="module")
def script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    extra = (
        '[project.scripts]\nprobe = "prb.app:probe"\n\n'
        '[tool.pyrelease]\ncommand = ["probe", "--serve"]\n'
    )
    project = make_dist(tmp_path_factory.mktemp("scriptpyc"), "prb", "prb", APP, "[]", extra)
    return build_local(project, "prb")


def bin_dir(script: Path) -> Path:
    return script.parent.parent / "releases" / "1.0.0" / "bin"


def runtime_python(script: Path) -> Path:
    return next(iter(sorted(script.parent.parent.glob("runtime-*/bin/python3.[0-9]*"))))


def cache_tag(script: Path) -> str:
    tag = subprocess.run(
        [str(runtime_python(script)), "-I", "-S", "-c",
         "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return tag.stdout.strip()


def test_the_build_compiles_each_console_script_beside_it(script: Path) -> None:
    folder = bin_dir(script)
    assert sorted(p.name for p in (folder / "__pycache__").iterdir()) == [
        f"probe.{cache_tag(script)}.pyc"
    ]  # the python launcher is a shell script: not compiled
    pyc = (folder / "__pycache__" / f"probe.{cache_tag(script)}.pyc").read_bytes()
    assert pyc[4:8] == b"\x01\x00\x00\x00"  # hash-based (unchecked), as the runtime's .pyc
    assert str(script.parent.parent).encode() not in pyc  # names releases/1.0.0/bin/probe
    wrong = run(script, "exec", "prob")
    assert wrong.returncode == 1
    assert "(console scripts: probe; use `exec -m MODULE` for a module)" in wrong.stderr
    assert "__pycache__" not in wrong.stderr and "Traceback" not in wrong.stderr


def test_a_build_elsewhere_with_an_empty_cache_writes_the_same_pycs(
    script: Path, tmp_path: Path
) -> None:
    project = copy_project(script.parents[5], tmp_path / "elsewhere" / "prb")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONHASHSEED": "7"}
    result = pyrelease("build", cwd=project, env=env)  # the compile worker runs again
    assert result.returncode == 0, result.stdout + result.stderr
    other = project / "_build" / "prod" / "rel" / "prb" / "bin" / "prb"

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    assert files(bin_dir(other)) == files(bin_dir(script))
    assert f"__pycache__/probe.{cache_tag(script)}.pyc" in files(bin_dir(other))


def test_exec_runs_the_compiled_script_until_it_is_edited(script: Path, tmp_path: Path) -> None:
    path = bin_dir(script) / "probe"
    result = run(script, "exec", "probe", "a b")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["ast"] is False  # no compile(): the .pyc ran
    assert seen["co_filename"] == str(path)  # named where it is, not as the build saw it
    assert seen["argv"] == [str(path), "a b"]
    assert seen["annotations"] == "{'x': <class 'int'>, 'return': None}"
    # executed directly (its sh line hands it to bin/python), from a relative path
    direct = subprocess.run(["./probe"], cwd=path.parent, env=base_env(),
                            capture_output=True, text=True, timeout=60)  # fmt: skip
    assert direct.returncode == 0, direct.stderr
    assert json.loads(direct.stdout)["ast"] is False
    assert json.loads(direct.stdout)["co_filename"] == "./probe"  # as python ./probe names it

    moved = shutil.copytree(script.parent.parent, tmp_path / "moved", symlinks=True)
    edited = moved / "releases" / "1.0.0" / "bin" / "probe"
    edited.write_text(edited.read_text().replace("sys.exit(", "print('edited'); sys.exit("))
    result = run(moved / "bin" / "prb", "exec", "probe")
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.splitlines()
    assert first == "edited"  # the new source ran, not the stale .pyc
    assert json.loads(second)["ast"] is True  # compiled at run time (the probe works)
    assert json.loads(second)["co_filename"] == str(edited)


def test_a_traceback_through_the_compiled_script_names_its_file_and_line(script: Path) -> None:
    path = bin_dir(script) / "probe"
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1) if "sys.exit(" in text)
    result = run(script, "exec", "probe", env={"PROBE_RAISE": "1"})
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n"), result.stderr
    assert f'  File "{path}", line {line}, in <module>\n    sys.exit(probe())\n' in result.stderr
    assert result.stderr.endswith("ValueError: probe failed\n")
    assert "interp.py" not in result.stderr and "bootcache" not in result.stderr


def test_the_command_application_runs_the_compiled_script(script: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    with node(script, {"RELEASE_DATA": str(data)}) as n:
        seen = wait_file(data / "probe.json")
        assert seen["ast"] is False, n.output()
        assert seen["co_filename"] == str(bin_dir(script) / "probe")
        assert seen["argv"][1:] == ["--serve"]
        stop = run(script, "stop", env={"RELEASE_DATA": str(data)})
        assert stop.returncode == 0, stop.stderr
        n.wait(60)


CODES = {
    "output": "import sys; print(sys.argv, __name__, sorted(globals()), __annotations__)",
    # the interpreter's own code has `from __future__ import annotations`: none of it leaks
    "future": "def f(x: int): pass\nprint(f.__annotations__)",
    "traceback": "def f():\n    raise ValueError('boom')\n\nf()",
    "syntax": "x = (1,\nprint(x)",
    "exit": "import sys; sys.exit('bye')",
}


def same_as_cpython(script: Path, code: str, *args: str) -> str:
    """Run ``code`` with the release's ``python -c`` and with its runtime's own; both
    give the same exit status, output and error output (returned)."""
    ours = run(script, "python", "-c", code, *args)
    cpython = subprocess.run(
        [str(runtime_python(script)), "-I", "-S", "-c", code, *args],
        env=base_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        cpython.returncode, cpython.stdout, cpython.stderr,
    )  # fmt: skip
    return ours.stderr


@pytest.mark.parametrize("kind", sorted(CODES))
def test_c_runs_as_cpython_runs_it(script: Path, kind: str) -> None:
    ours = same_as_cpython(script, CODES[kind], "a", "-b")
    if kind == "traceback":
        assert 'File "<string>", line 2, in f' in ours


@pytest.mark.parametrize("where", ["file", "stdin"])
def test_a_program_s_globals_are_those_cpython_gives(
    script: Path, tmp_path: Path, where: str
) -> None:
    code = "print(sorted(globals()), __file__ == 'NAME', __cached__, __annotations__)"
    path = tmp_path / "globals.py"
    if where == "file":
        path.write_text(code.replace("NAME", str(path)))
        args: list[str] = [str(path)]
    else:
        code = code.replace("NAME", "<stdin>")
        args = ["-"]
    outputs = []
    for python in ([str(script), "python"], [str(runtime_python(script)), "-I", "-S"]):
        outputs.append(subprocess.run([*python, *args], input=code, env=base_env(),
                                      capture_output=True, text=True, timeout=60))  # fmt: skip
    assert outputs[0].stdout == outputs[1].stdout != "", outputs[0].stderr


def test_c_and_a_user_s_script_build_the_ast_classes_as_cpython_does(
    script: Path, tmp_path: Path
) -> None:
    assert run(script, "python", "-c", AST_BUILT).stdout == "False\n"
    assert run(script, "python", "-c", f"compile('', '', 'exec'); {AST_BUILT}").stdout == "True\n"
    # A file of the user's is compiled as `python file.py` does, with no __future__ of ours.
    user = tmp_path / "user.py"
    user.write_text(f"def f(x: int): pass\nprint(f.__annotations__)\n{AST_BUILT}\n")
    result = run(script, "python", str(user))
    assert result.stdout == "{'x': <class 'int'>}\nTrue\n", result.stderr


def test_a_script_pyc_of_another_interpreter_is_not_used(script: Path, tmp_path: Path) -> None:
    moved = shutil.copytree(script.parent.parent, tmp_path / "other", symlinks=True)
    pyc = next((moved / "releases" / "1.0.0" / "bin" / "__pycache__").iterdir())
    pyc.write_bytes(b"\x00\x00" + pyc.read_bytes()[2:])  # another magic number
    result = run(moved / "bin" / "prb", "exec", "probe")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["ast"] is True  # compiled instead
    optimized = run(script, "python", "-O", str(bin_dir(script) / "probe"))
    assert optimized.returncode == 0, optimized.stderr
    assert json.loads(optimized.stdout)["ast"] is True  # the build compiles at level 0


@pytest.mark.parametrize("minor", ["3.12", "3.13"])
def test_the_same_on_python(script: Path, tmp_path: Path, minor: str) -> None:
    """A release bundling another CPython: its interpreter compiles the scripts
    (its magic number), and ``-c`` tracebacks show the code's lines on 3.13 as
    CPython 3.13 does."""
    runtimes = sorted(Path("/root/.pyenv/versions").glob(f"{minor}.*/bin/python{minor}"))
    if not runtimes:
        pytest.skip(f"no CPython {minor} under pyenv")
    project = copy_project(script.parents[5], tmp_path / "prb")
    built = pyrelease("build", "--include-runtime", str(runtimes[0].parents[1]), cwd=project)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    other = project / "_build" / "prod" / "rel" / "prb" / "bin" / "prb"
    assert runtime_python(other).name == f"python{minor}"
    result = run(other, "exec", "probe")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["ast"] is False and seen["co_filename"] == str(bin_dir(other) / "probe")
    for code in CODES.values():
        same_as_cpython(other, code, "a")
    if minor == "3.13":
        assert "    raise ValueError('boom')\n" in same_as_cpython(other, CODES["traceback"])
    assert run(other, "python", "-c", AST_BUILT).stdout == "False\n"
