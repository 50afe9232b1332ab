"""`pyrelease build` and `pyrelease init` as a user meets them: options, errors,
overwriting, failure safety, and the release options that change what is built."""

from __future__ import annotations

import io
import signal
from pathlib import Path

import pytest

from helpers import make_dist, node, pyrelease, run
from pyrelease.console import Console
from pyrelease.templates import BUILTIN_DIR, USER_TEMPLATES

pytestmark = pytest.mark.e2e

SVC = """
import sys

def start(ctx):
    v = sys.version_info
    print(f"svc started on {v[0]}.{v[1]} config={sorted(ctx.config.items())}", flush=True)
    ctx.on_stop(lambda: print("svc stopping", flush=True))
    return True

def fail():
    raise ValueError("boom from svc")
"""

PYENV = Path("/root/.pyenv/versions")


def svc(tmp_path: Path, tool: str = "", files: dict[str, str] | None = None) -> Path:
    """A one-module project with no dependencies and the given [tool.pyrelease] text."""
    project = make_dist(tmp_path, "svc", "svc", SVC, "[]", tool)
    for rel, text in (files or {}).items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def bin_of(project: Path, name: str = "svc") -> Path:
    return project / "_build" / "prod" / "rel" / name / "bin" / name


def assert_user_error(result, *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("ERROR: ")
    for fragment in fragments:
        assert fragment in result.stderr


def test_no_releases_builds_one_named_after_the_project(tmp_path: Path) -> None:
    project = svc(tmp_path, '[tool.pyrelease]\nmod = "svc.app:start"')
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stderr
    assert "warning: no lock file" in result.stderr  # resolved, not locked: said so
    assert run(bin_of(project), "version").stdout == "svc 1.0.0\n"
    with node(bin_of(project)) as n:
        n.wait_for("svc started on 3.")
        n.signal(signal.SIGTERM)
        assert n.wait(15) == 0
        assert "svc stopping" in n.output()


def test_release_selection_errors(tmp_path: Path) -> None:
    tool = "[tool.pyrelease.releases.a]\n[tool.pyrelease.releases.b]\n"
    project = svc(tmp_path, tool)
    assert_user_error(
        pyrelease("build", "nosuch", cwd=project),
        "Unknown release nosuch. The available releases are: a, b",
    )
    assert_user_error(pyrelease("build", cwd=project), "default_release")


def test_invalid_options_are_all_reported_with_suggestions(tmp_path: Path) -> None:
    tool = '[tool.pyrelease.releases.svc]\nincldue_runtime = true\nquiet = "yes"\n'
    project = svc(tmp_path, tool)
    result = pyrelease("build", cwd=project)
    assert_user_error(result, "include_runtime", "quiet")
    assert not (project / "_build").exists()  # nothing half-written


def test_init_writes_the_templates_the_build_uses(tmp_path: Path) -> None:
    project = svc(tmp_path)
    result = pyrelease("init", cwd=project)
    assert result.returncode == 0, result.stderr
    for name in USER_TEMPLATES:
        assert (project / "rel" / name).read_text() == (BUILTIN_DIR / name).read_text()
    again = pyrelease("init", cwd=project)
    assert_user_error(again, "already exist")
    assert "TIP: pass --force" in again.stderr
    (project / "rel" / "env.sh.j2").write_text("# mine\n")
    assert pyrelease("init", "--force", cwd=project).returncode == 0
    assert (project / "rel" / "env.sh.j2").read_text() == (BUILTIN_DIR / "env.sh.j2").read_text()


def test_path_version_overwrite_and_stale_files(tmp_path: Path) -> None:
    tool = (
        "[tool.pyrelease.releases.svc]\n"
        'cookie = "fixed_cookie_value_1"\nsteps = ["assemble", "tar"]\n'
    )
    project = svc(tmp_path, tool)
    out = tmp_path / "out"
    first = pyrelease("build", "--path", str(out), "--version", "1.2.3", cwd=project)
    assert first.returncode == 0, first.stderr
    assert run(out / "bin" / "svc", "version").stdout == "svc 1.2.3\n"
    assert (out / "svc-1.2.3.tar.xz").is_file()  # inside path when path is given
    cookie = out / "releases" / "COOKIE"
    assert cookie.read_text() == "fixed_cookie_value_1"
    assert cookie.stat().st_mode & 0o777 == 0o400
    (out / "stale.txt").write_text("left by hand")
    refused = pyrelease("build", "--path", str(out), "--version", "1.2.3", cwd=project, input="")
    assert_user_error(refused, "already exists", "--overwrite")
    assert (out / "stale.txt").exists()
    again = pyrelease(
        "build", "--path", str(out), "--version", "1.2.4", "--overwrite", "--no-compile",
        cwd=project,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert not (out / "stale.txt").exists()  # exactly what this build produced
    assert run(out / "bin" / "svc", "version").stdout == "svc 1.2.4\n"


def test_overwrite_prompt_on_a_terminal() -> None:
    from pyrelease.build import confirm_overwrite
    from pyrelease.errors import PyreleaseError

    class R:  # the fields confirm_overwrite reads
        name, version = "svc", "1.0.0"
        path = Path("/")
        options = type("O", (), {"overwrite": False})()

        def relative(self, p: Path) -> str:
            return str(p)

    for answer, accepted in (("\n", True), ("y\n", True), ("n\n", False), ("", False)):
        out = io.StringIO()
        r = R()
        r.console = Console(out=out, inp=io.StringIO(answer), interactive=True)
        if accepted:
            confirm_overwrite(r)
        else:
            with pytest.raises(PyreleaseError, match="cancelled"):
                confirm_overwrite(r)
        assert out.getvalue() == "Release svc-1.0.0 already exists. Overwrite? [Yn] "


def test_failed_build_leaves_the_previous_release_untouched(tmp_path: Path) -> None:
    project = svc(tmp_path)
    assert pyrelease("build", cwd=project).returncode == 0
    release = bin_of(project).parent.parent
    before = sorted(p.relative_to(release) for p in release.rglob("*"))
    (project / "rel").mkdir()
    (project / "rel" / "vm.args.j2").write_text("{% if %}\n")
    broken = pyrelease("build", "--overwrite", "--no-compile", cwd=project)
    assert_user_error(broken, "vm.args.j2")
    assert sorted(p.relative_to(release) for p in release.rglob("*")) == before
    assert [p.name for p in release.parent.iterdir()] == ["svc"]  # no staging left behind


def test_compile_env_mismatch_refuses_to_boot(tmp_path: Path) -> None:
    config = (
        "from pyrelease.node.appconfig import config, compile_env\n"
        "config('svc', feature=True)\n"
        "compile_env('svc', 'feature')\n"
    )
    runtime = (
        "import os\nfrom pyrelease.node.appconfig import config\n"
        "config('svc', feature=os.environ.get('FEATURE', '1') == '1')\n"
    )
    tool = '[tool.pyrelease]\nmod = "svc.app:start"\n'
    project = svc(tmp_path, tool, {"config/config.py": config, "config/runtime.py": runtime})
    assert pyrelease("build", cwd=project).returncode == 0
    ok = run(bin_of(project), "eval", "print('ok')")
    assert ok.stdout == "ok\n", ok.stderr
    bad = run(bin_of(project), "eval", "print('ok')", env={"FEATURE": "0"})
    assert bad.returncode == 1
    assert "ERROR: the application svc was built with feature=True" in bad.stderr
    assert "validate_compile_env = false" in bad.stderr


def test_strip_false_keeps_sources_and_tracebacks_show_them(tmp_path: Path) -> None:
    project = svc(tmp_path, "[tool.pyrelease.releases.svc]\nstrip = false\n")
    assert pyrelease("build", cwd=project).returncode == 0
    lib = bin_of(project).parent.parent / "lib" / "svc-1.0.0" / "svc"
    assert (lib / "app.py").is_file()
    assert list((lib / "__pycache__").glob("app.cpython-*.pyc"))
    out = run(bin_of(project), "eval", "import svc.app; svc.app.fail()")
    assert out.returncode == 1
    assert 'raise ValueError("boom from svc")' in out.stderr  # the source line is shown


def test_compress_zips_pure_python_applications(tmp_path: Path) -> None:
    tool = (
        '[tool.pyrelease]\nmod = "svc.app:start"\n'
        "[tool.pyrelease.releases.svc]\nstrip = { compress = true }\n"
    )
    project = svc(tmp_path, tool)
    assert pyrelease("build", cwd=project).returncode == 0
    lib = bin_of(project).parent.parent / "lib"
    assert (lib / "svc-1.0.0.zip").is_file() and not (lib / "svc-1.0.0").exists()
    code = "import importlib.metadata as m, svc.app; print(m.version('svc'), svc.app.__file__)"
    out = run(bin_of(project), "eval", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("1.0.0 ") and "svc-1.0.0.zip" in out.stdout


@pytest.mark.parametrize("version", ["3.12", "3.13"])
def test_release_on_another_bundled_python(tmp_path: Path, version: str) -> None:
    prefixes = sorted(PYENV.glob(f"{version}.*"))
    if not prefixes:
        pytest.skip(f"no CPython {version} under {PYENV}")
    tool = (
        f'[tool.pyrelease]\nmod = "svc.app:start"\n'
        f'[tool.pyrelease.releases.svc]\ninclude_runtime = "{prefixes[-1]}"\n'
    )
    project = svc(tmp_path, tool)
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    release = bin_of(project).parent.parent
    assert (release / f"runtime-{prefixes[-1].name}").is_dir()
    out = run(bin_of(project), "eval", "import sys; print(sys.version_info[:2])")
    assert out.stdout == f"({version.replace('.', ', ')})\n", out.stderr
    with node(bin_of(project)) as n:
        n.wait_for(f"svc started on {version}")
        # The management commands' own code paths (SHA-256, the light os) on this Python.
        pid = run(bin_of(project), "pid")
        assert pid.stdout == f"{n.proc.pid}\n", pid.stderr
        rpc = run(bin_of(project), "rpc", "import sys; print(sys.version_info[:2])")
        assert rpc.stdout == out.stdout, rpc.stderr
        n.signal(signal.SIGTERM)
        assert n.wait(15) == 0


def test_include_runtime_false_needs_the_exact_python(tmp_path: Path) -> None:
    tool = "[tool.pyrelease.releases.svc]\ninclude_runtime = false\n"
    project = svc(tmp_path, tool)
    assert pyrelease("build", cwd=project).returncode == 0
    release = bin_of(project).parent.parent
    assert not list(release.glob("runtime-*"))
    exact = run(bin_of(project), "eval", "import sys; print(sys.executable)")
    assert exact.returncode == 0, exact.stderr
    other = sorted(PYENV.glob("3.12.*/bin/python3.12"))
    if not other:
        pytest.skip("no other CPython to show the mismatch")
    wrong = run(bin_of(project), "eval", "print(1)", env={"RELEASE_PYTHON": str(other[-1])})
    assert wrong.returncode == 1
    assert "this release was built for Python 3.11" in wrong.stderr
    assert "include_runtime = true" in wrong.stderr


def test_requires_python_is_checked(tmp_path: Path) -> None:
    project = svc(tmp_path)
    text = (project / "pyproject.toml").read_text().replace(">=3.11", "<3.11")
    (project / "pyproject.toml").write_text(text)
    result = pyrelease("build", cwd=project)
    assert_user_error(result, "requires Python <3.11")
    assert "--no-python-version-check" in result.stderr


def test_no_compile_without_a_build_environment(tmp_path: Path) -> None:
    result = pyrelease("build", "--no-compile", cwd=svc(tmp_path))
    assert_user_error(result, "--no-compile needs an existing build environment")


def test_an_unknown_installer_is_one_sentence(tmp_path: Path) -> None:
    project = svc(tmp_path)
    result = pyrelease("build", cwd=project, env={"PYRELEASE_INSTALLER": "conda"})
    assert_user_error(result, "PYRELEASE_INSTALLER must be uv or pip, got 'conda'")
    assert not (project / "_build" / "prod" / "rel").exists()
