"""Application modes, steps, templates and runtime configuration, on a small
generated project with two applications (``keeper`` runs until stopped;
``modeapp`` ends normally, crashes or runs, as the environment says)."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from helpers import base_env, make_dist, node, pyrelease, run, write_pylock

pytestmark = pytest.mark.e2e

MODEAPP = """
import os, time

def start(ctx):
    end = os.environ.get("MODEAPP_END", "run")
    print(f"modeapp starting ({end})", flush=True)
    if end == "run":
        ctx.on_stop(lambda: print("modeapp stopping", flush=True))
        return {"running": True}
    if end == "fail_start":
        raise RuntimeError("modeapp could not start")
    ctx.ready()
    time.sleep(0.2)
    if end == "normal":
        return None
    raise RuntimeError("modeapp crashed on purpose")
"""

KEEPER = """
def start(ctx):
    print("keeper started", flush=True)
    ctx.on_stop(lambda: print("keeper stopping", flush=True))
    return object()
"""

STEPS = """
from pathlib import Path

def before(release):
    release.config.setdefault("modeapp", {})["from_step"] = "before"
    return release

def after(release):
    (release.path / "AFTER_STEP").write_text(release.version)
    return release

def broken(release):
    return None
"""

RELEASES = """
[tool.pyrelease]
mod = "modeapp.app:start"

[tool.pyrelease.releases.permanent]
applications = { modeapp = "permanent" }
[tool.pyrelease.releases.transient]
applications = { modeapp = "transient" }
[tool.pyrelease.releases.temporary]
applications = { modeapp = "temporary" }
[tool.pyrelease.releases.stepped]
steps = ["steps_mod:before", "assemble", "steps_mod:after", "tar"]
reboot_system_after_config = true
config_providers = [{ provider = "toml", path = "$RELEASE_ROOT/../settings.toml", optional = true }]
[tool.pyrelease.releases.pruned]
reboot_system_after_config = true
prune_runtime_sys_config_after_boot = true
include_executables_for = ["unix", "windows"]
version = { from_dist = "keeper" }
[tool.pyrelease.releases.broken]
steps = ["assemble", "steps_mod:broken"]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("modes")
    keeper = make_dist(
        base,
        "keeper",
        "keeper",
        KEEPER,
        "[]",
        '[project.entry-points."pyrelease.application"]\nkeeper = "keeper.app:start"',
        "2.5.0",
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(base / "wheels"), str(keeper)],
        check=True, capture_output=True,
    )  # fmt: skip
    proj = make_dist(base, "modeapp", "modeapp", MODEAPP, '["keeper"]', RELEASES)
    (proj / "steps_mod.py").write_text(STEPS)
    (proj / "config").mkdir()
    (proj / "config" / "runtime.py").write_text(
        "import os\nfrom pyrelease.node.appconfig import config\n"
        "config('modeapp', runtime_pid=os.getpid(), port=int(os.environ.get('PORT', '1')))\n"
    )
    (proj / "rel").mkdir()
    (proj / "rel" / "vm.args.j2").write_text("--recursion-limit 4321\n")
    (proj / "rel" / "env.sh.j2").write_text('export FROM_ENV_SH="{{ release.name }} $*"\n')
    write_pylock(proj, sorted((base / "wheels").glob("*.whl")))
    first = pyrelease("build", "permanent", cwd=proj)
    assert first.returncode == 0, first.stdout + first.stderr
    for name in ("transient", "temporary", "stepped", "pruned"):
        result = pyrelease("build", name, "--no-compile", cwd=proj)
        assert result.returncode == 0, result.stdout + result.stderr
    return proj


def script(project: Path, release: str) -> Path:
    return project / "_build" / "prod" / "rel" / release / "bin" / release


@pytest.mark.parametrize(
    ("release", "end", "status", "message"),
    [
        ("permanent", "normal", 0, "application modeapp (permanent) ended normally; stopping"),
        ("permanent", "crash", 1, "application modeapp (permanent) ended abnormally; stopping"),
        ("transient", "crash", 1, "application modeapp (transient) ended abnormally; stopping"),
        ("permanent", "fail_start", 1, "application modeapp failed to start; stopping"),
    ],
)
def test_mode_stops_the_node(project: Path, release: str, end: str, status: int,
                             message: str) -> None:  # fmt: skip
    with node(script(project, release), {"MODEAPP_END": end}) as n:
        assert n.wait(20) == status, n.output()
        out = n.output()
    assert message in out
    assert "keeper stopping" in out  # the other application was stopped cleanly
    if end == "crash":
        assert "RuntimeError: modeapp crashed on purpose" in out


@pytest.mark.parametrize(
    ("release", "end", "how"),
    [("transient", "normal", "normally"), ("temporary", "crash", "abnormally")],
)
def test_mode_lets_the_node_go_on(project: Path, release: str, end: str, how: str) -> None:
    with node(script(project, release), {"MODEAPP_END": end}) as n:
        n.wait_for(f"application modeapp ({release}) ended {how}")
        time.sleep(0.3)
        assert n.proc.poll() is None, n.output()
        n.signal(signal.SIGINT)
        assert n.wait(15) == 0
        assert "keeper stopping" in n.output()


def test_sigterm_stops_applications_in_reverse_start_order(project: Path) -> None:
    with node(script(project, "permanent")) as n:
        n.wait_for("started in")
        n.signal(signal.SIGTERM)
        assert n.wait(15) == 0
        out = n.output()
    assert out.index("keeper started") < out.index("modeapp starting")
    assert out.index("modeapp stopping") < out.index("keeper stopping")


def test_templates_vm_args_and_env_sh_from_rel(project: Path) -> None:
    out = run(
        script(project, "permanent"), "eval",
        "import os, sys; print(sys.getrecursionlimit(), os.environ['FROM_ENV_SH'])",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    # env.sh saw the release name, the command and the arguments, as in the model.
    assert out.stdout.startswith("4321 permanent eval import os, sys;")


def test_steps_run_around_assemble_and_tar(project: Path) -> None:
    root = project / "_build" / "prod" / "rel" / "stepped"
    assert (root / "AFTER_STEP").read_text() == "1.0.0"
    assert (project / "_build" / "prod" / "stepped-1.0.0.tar.xz").is_file()
    sys_config = (root / "releases" / "1.0.0" / "sys.config").read_text()
    assert '"from_step": "before"' in sys_config


def test_step_returning_wrong_type_is_named(project: Path) -> None:
    result = pyrelease("build", "broken", "--no-compile", cwd=project)
    assert result.returncode == 1
    assert "the step steps_mod:broken returned NoneType, not the Release" in result.stderr
    assert "Traceback" not in result.stderr


def test_reboot_after_config_and_toml_provider(project: Path) -> None:
    root = project / "_build" / "prod" / "rel" / "stepped"
    (root.parent / "settings.toml").write_text("[modeapp]\nfrom_toml = 7\n")
    code = textwrap.dedent("""
        import os
        from pyrelease.node.appconfig import get_env
        print(get_env('modeapp', 'from_toml'), get_env('modeapp', 'port'))
    """)
    out = run(root / "bin" / "stepped", "eval", code, env={"PORT": "99"})
    assert out.returncode == 0, out.stderr
    assert out.stdout == "7 99\n"
    with node(root / "bin" / "stepped", {"MODEAPP_END": "run"}) as n:
        n.wait_for("started in")
        tmp_configs = list((root / "tmp").glob("stepped-1.0.0-*.runtime.sys.config"))
        assert len(tmp_configs) == 1  # the computed config the node rebooted with
        assert '"from_toml": 7' in tmp_configs[0].read_text()


def test_prune_runtime_sys_config_after_boot(project: Path) -> None:
    root = project / "_build" / "prod" / "rel" / "pruned"
    with node(root / "bin" / "pruned", {"MODEAPP_END": "run"}) as n:
        n.wait_for("started in")
        assert "application modeapp started" in n.output()
        assert list((root / "tmp").glob("*.runtime.sys.config")) == []


def test_version_from_dist_and_windows_env_bat(project: Path) -> None:
    root = project / "_build" / "prod" / "rel" / "pruned"
    assert run(root / "bin" / "pruned", "version").stdout == "pruned 2.5.0\n"
    env_bat = root / "releases" / "2.5.0" / "env.bat"
    assert env_bat.read_text().startswith("@echo off")


def test_bin_script_follows_a_chain_of_symlinks(project: Path, tmp_path: Path) -> None:
    target = script(project, "permanent")
    first = tmp_path / "links" / "one"
    first.parent.mkdir()
    first.symlink_to(target)
    second = tmp_path / "two"
    second.symlink_to(Path("links") / "one")  # relative link to a link
    code = "import os; print(os.environ['RELEASE_ROOT'], os.environ['RELEASE_PROG'])"
    out = run(second, "eval", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [str(target.parent.parent), "two"]
    # Run from inside bin/, with and without a folder in $0 (`sh NAME`).
    for argv in (["./permanent"], ["sh", "permanent"]):
        here = subprocess.run(
            [*argv, "eval", code], cwd=target.parent, env=base_env(), capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
        assert here.returncode == 0, here.stderr
        assert here.stdout.split() == [str(target.parent.parent), "permanent"]


def test_bin_script_keeps_the_callers_directory_and_environment(
    project: Path, tmp_path: Path
) -> None:
    # bin/NAME finds the release root (symlinks resolved) by going there and
    # back: the command still runs where it was called from, with the caller's
    # PWD and OLDPWD, and a removed current directory still works.
    root = script(project, "permanent").parent.parent
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    real, link = tmp_path / "work", tmp_path / "work-link"
    real.mkdir()
    link.symlink_to(real)
    code = (
        "import os; print(os.environ['RELEASE_ROOT'], os.getcwd(), os.environ.get('PWD'),"
        " os.environ.get('OLDPWD', '-'))"
    )
    for oldpwd in ("/var/empty", None):
        env = {**base_env(), "PWD": str(link)}
        env.pop("OLDPWD", None)
        if oldpwd:
            env["OLDPWD"] = oldpwd
        out = subprocess.run(
            ["sh", "-c", 'exec "$0" eval "$1"', alias / "bin" / "permanent", code],
            cwd=link, env=env, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [str(root), str(real), str(link), oldpwd or "-"]
    gone = subprocess.run(
        ["sh", "-c", 'mkdir gone && cd gone && rmdir ../gone && exec "$0" eval "$1"',
         alias / "bin" / "permanent", "import os; print(os.environ['RELEASE_ROOT'])"],
        cwd=tmp_path, env=base_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert gone.returncode == 0, gone.stderr
    assert gone.stdout == f"{root}\n"


def test_unknown_release_vsn_is_refused(project: Path) -> None:
    out = run(script(project, "permanent"), "eval", "print(1)", env={"RELEASE_VSN": "9.9.9"})
    assert out.returncode == 1
    assert "ERROR: release version 9.9.9 does not exist" in out.stderr


def test_windows_scripts_are_generated_with_every_command(project: Path) -> None:
    # Windows cannot run here: check what a Windows user would get.
    root = project / "_build" / "prod" / "rel" / "pruned"
    bat = (root / "bin" / "pruned.bat").read_bytes()
    assert b"\r\n" in bat and b"\n" not in bat.replace(b"\r\n", b"")
    text = bat.decode()
    for command in ("start", "start_iex", "install", "eval", "rpc", "remote", "restart", "stop",
                    "pid", "version"):  # fmt: skip
        assert f'"%~1"=="{command}"' in text
    assert 'call "!REL_VSN_DIR!\\env.bat" %*' in text
    assert "runtime-!RELEASE_PYVSN!\\python.exe" in text
    assert (root / "releases" / "2.5.0" / "env.bat").read_bytes().startswith(b"@echo off\r\n")
