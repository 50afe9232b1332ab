"""What ``pyrelease build`` checks before it writes a release, as a user meets it:
hostile or mistyped versions and names, steps that fail after ``assemble``,
special files, overlays and their links, start callables and runtime
configuration checked at build time, and the one-line errors at boot."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import base_env, make_dist, node, run

pytestmark = pytest.mark.e2e

SVC = """
def start(ctx):
    print("svc started", flush=True)
    return True
"""

MOD = '[tool.pyrelease]\nmod = "svc.app:start"\n'


def svc(tmp_path: Path, tool: str = MOD, files: dict[str, str] | None = None) -> Path:
    """A one-module project with no dependencies and the given [tool.pyrelease] text."""
    project = make_dist(tmp_path, "svc", "svc", SVC, "[]", tool)
    for rel, text in (files or {}).items():
        path = project / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return project


def build(
    project: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """The real CLI, with a deadline: a hanging build fails the test instead of wedging it."""
    return subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", *args],
        cwd=project,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def release_dir(project: Path, name: str = "svc") -> Path:
    return project / "_build" / "prod" / "rel" / name


def assert_user_error(result: subprocess.CompletedProcess[str], *fragments: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    said = [line for line in result.stderr.splitlines() if not line.startswith("warning: ")]
    assert said and said[0].startswith("ERROR: "), result.stderr  # first, after warnings
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every entry below ``root``: file bytes, link targets, folders."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[rel] = "dir"
        else:
            found[rel] = path.read_bytes()
    return found


# --- versions and names --------------------------------------------------------------


@pytest.mark.parametrize("version", ["../../x", "ABSOLUTE", "1.0 beta", " 1.0", "1.0/2"])
def test_cli_version_is_checked_like_the_project_version(tmp_path: Path, version: str) -> None:
    project = svc(tmp_path)
    version = str(tmp_path / "abs") if version == "ABSOLUTE" else version
    result = build(project, "--version", version)
    assert_user_error(result, "--version", "is not a valid PEP 440 version")
    assert not (project / "_build").exists()
    assert not (tmp_path / "x").exists() and not (tmp_path / "abs").exists()
    assert not (project / "x").exists()


def test_a_version_with_spaces_is_refused_in_pyproject_too(tmp_path: Path) -> None:
    project = svc(tmp_path, MOD + '[tool.pyrelease.releases.svc]\nversion = "1.0 "\n')
    assert_user_error(build(project), "`version` must be a valid PEP 440 version")


def test_a_release_name_over_the_file_name_limit_is_refused_up_front(tmp_path: Path) -> None:
    long_name = "r" * 250
    project = svc(tmp_path, MOD + f"[tool.pyrelease.releases.{long_name}]\n")
    result = build(project)
    assert_user_error(result, "too long", "255 bytes", "shorter")
    assert "File name too long" not in result.stderr
    assert not (project / "_build").exists()


def test_a_version_that_makes_the_tarball_name_too_long_is_refused(tmp_path: Path) -> None:
    project = svc(tmp_path)
    result = build(project, "--version", "1.0+" + "a" * 245)
    assert_user_error(result, "too long", "svc-1.0+aaa")
    assert "File name too long" not in result.stderr
    assert not (project / "_build").exists()


# --- nothing replaced until every step succeeded -------------------------------------------

STEPS = """
import os
import signal
from pathlib import Path


def check(release):
    assert (release.path / "bin" / "svc").is_file(), "assemble's output is at release.path"
    tarball = Path(release.extra["tarball"])
    assert tarball.is_file() and tarball.name == f"svc-{release.version}.tar.xz"
    if os.environ.get("FAIL_STEP") == "interrupt":
        os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C while a step after assemble runs
    if os.environ.get("FAIL_STEP"):
        raise RuntimeError("upload refused")
    (release.path / "CHECKED").write_text(release.version)
    return release
"""


def test_a_step_failing_after_assemble_keeps_the_previous_release(tmp_path: Path) -> None:
    tool = MOD + '[tool.pyrelease.releases.svc]\nsteps = ["assemble", "tar", "buildsteps:check"]\n'
    project = svc(tmp_path, tool, {"buildsteps.py": STEPS})
    first = build(project)
    assert first.returncode == 0, first.stdout + first.stderr
    release = release_dir(project)
    before = snapshot(release)
    assert before["CHECKED"] == b"1.0.0"
    tarballs = project / "_build" / "prod"
    old_tar = (tarballs / "svc-1.0.0.tar.xz").read_bytes()

    failed = build(project, "--overwrite", "--version", "2.0.0", env={"FAIL_STEP": "1"})
    assert_user_error(failed, "the step buildsteps:check failed", "upload refused")
    assert "buildsteps.py:" in failed.stderr and "previous release" in failed.stderr
    interrupt = {"FAIL_STEP": "interrupt"}
    interrupted = build(project, "--overwrite", "--version", "2.0.0", env=interrupt)
    assert interrupted.returncode == 130, interrupted.stdout + interrupted.stderr
    # after both: the previous release and tarball as they were, nothing left aside
    assert snapshot(release) == before
    assert sorted(p.name for p in release.parent.iterdir()) == ["svc"]
    assert not (tarballs / "svc-2.0.0.tar.xz").exists()
    assert (tarballs / "svc-1.0.0.tar.xz").read_bytes() == old_tar
    assert not [p for p in tarballs.iterdir() if p.name.startswith(".")]
    assert run(release / "bin" / "svc", "version").stdout == "svc 1.0.0\n"

    again = build(project, "--overwrite", "--version", "2.0.0")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "Release created at _build/prod/rel/svc" in again.stdout
    assert (release / "CHECKED").read_text() == "2.0.0"
    assert (tarballs / "svc-2.0.0.tar.xz").is_file()
    assert run(release / "bin" / "svc", "version").stdout == "svc 2.0.0\n"
    # The replaced release is left aside, hidden, for the next build to remove.
    [aside, final] = sorted(p.name for p in release.parent.iterdir())
    assert aside.startswith(".svc.old-") and final == "svc"


SET_VERSION = """
def hostile(release):
    release.version = "../../../evil"
    return release
"""


def test_a_version_set_by_a_step_before_assemble_is_checked_too(tmp_path: Path) -> None:
    tool = MOD + '[tool.pyrelease.releases.svc]\nsteps = ["setver:hostile", "assemble"]\n'
    project = svc(tmp_path, tool, {"setver.py": SET_VERSION})
    result = build(project)
    assert_user_error(result, "'../../../evil' is not a valid PEP 440 version")
    assert not release_dir(project).exists()
    assert not [p for p in tmp_path.rglob("evil")]


# --- special files ---------------------------------------------------------------------


def test_special_files_in_the_project_neither_hang_nor_ship(tmp_path: Path) -> None:
    project = svc(tmp_path)
    os.mkfifo(project / "control.fifo")
    (project / "run").mkdir()
    os.mkfifo(project / "run" / "events.fifo")  # (src/ is the build backend's to read)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(project / "dev.sock"))
    try:
        result = build(project, timeout=240)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "skipping the named pipe (FIFO)" in result.stderr
        release = release_dir(project)
        assert not [p for p in release.rglob("*") if p.name in ("events.fifo", "dev.sock")]
        again = build(project, "--overwrite", timeout=240)  # the sources digest reads again
        assert again.returncode == 0, again.stdout + again.stderr
    finally:
        sock.close()


def test_a_special_file_in_a_package_folder_is_refused_before_the_backend_reads_it(
    tmp_path: Path,
) -> None:
    project = svc(tmp_path)
    os.mkfifo(project / "src" / "svc" / "events.fifo")  # the backend packs src/svc/
    result = build(project, timeout=240)
    assert_user_error(result, "src/svc/events.fifo is a named pipe (FIFO) inside a package")
    assert not release_dir(project).exists()


def test_a_special_file_in_an_overlay_is_refused_with_its_path(tmp_path: Path) -> None:
    project = svc(tmp_path, files={"rel/overlays/etc/README": "hello\n"})
    os.mkfifo(project / "rel" / "overlays" / "etc" / "pipe")
    result = build(project, timeout=240)
    assert_user_error(result, "rel/overlays/etc/pipe", "named pipe")
    assert not release_dir(project).exists()
    assert sorted(p.name for p in release_dir(project).parent.iterdir()) == []


# --- overlays --------------------------------------------------------------------------


def test_a_missing_configured_overlay_is_an_error(tmp_path: Path) -> None:
    project = svc(tmp_path, MOD + '[tool.pyrelease.releases.svc]\noverlays = ["extra"]\n')
    result = build(project)
    assert_user_error(result, "overlay", "extra", "does not exist")
    assert "TIP: " in result.stderr
    assert not (project / "_build").exists()  # said before anything is built


def test_an_overlay_folder_linked_outside_the_project_is_refused(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "id_rsa").write_text("PRIVATE")
    project = svc(tmp_path)
    (project / "rel").mkdir()
    (project / "rel" / "overlays").symlink_to(secrets)
    result = build(project)
    assert_user_error(result, "rel/overlays", str(secrets), "outside the project")
    assert not (project / "_build").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../etc", "../..", "dir/../../.."])
def test_links_in_overlays_that_leave_the_release_are_refused(tmp_path: Path, target: str) -> None:
    project = svc(tmp_path, files={"rel/overlays/share/dir/file": "x\n"})
    (project / "rel" / "overlays" / "share" / "leak").symlink_to(target)
    result = build(project)
    assert_user_error(result, "rel/overlays/share/leak", target, "outside the release")
    assert "TIP: " in result.stderr
    assert not release_dir(project).exists()


def test_links_in_overlays_that_stay_in_the_release_ship(tmp_path: Path) -> None:
    files = {"rel/overlays/share/v1/file": "v1\n", "rel/overlays/share/up/x": "x\n"}
    project = svc(tmp_path, files=files)
    (project / "rel" / "overlays" / "share" / "latest").symlink_to("v1")
    (project / "rel" / "overlays" / "share" / "up" / "bin").symlink_to("../../bin")
    result = build(project)
    assert result.returncode == 0, result.stdout + result.stderr
    release = release_dir(project)
    assert (release / "share" / "latest" / "file").read_text() == "v1\n"
    assert (release / "share" / "up" / "bin" / "svc").is_file()


# --- start callables and runtime configuration -----------------------------------------


@pytest.mark.parametrize(
    ("tool", "fragments"),
    [
        ('mod = "svc.app:strat"', ["`mod`", "svc.app:strat", "did you mean `start`?"]),
        ('mod = "svc.nosuch:start"', ["`mod`", "svc.nosuch", "no module"]),
    ],
)
def test_a_wrong_mod_is_refused_at_build(tmp_path: Path, tool: str, fragments: list[str]) -> None:
    project = svc(tmp_path, f"[tool.pyrelease]\n{tool}\n")
    result = build(project)
    assert_user_error(result, *fragments)
    assert not release_dir(project).exists()


def test_a_wrong_entry_point_start_callable_is_refused_at_build(tmp_path: Path) -> None:
    tool = '[project.entry-points."pyrelease.application"]\nsvc = "svc.app:begin"\n'
    project = svc(tmp_path, tool)
    result = build(project)
    assert_user_error(result, "pyrelease.application", "svc.app:begin", "svc")
    assert not release_dir(project).exists()


def test_a_start_callable_bound_by_import_or_assignment_is_accepted(tmp_path: Path) -> None:
    project = svc(tmp_path, '[tool.pyrelease]\nmod = "svc.app:begin"\n')
    (project / "src" / "svc" / "app.py").write_text(SVC + "\nif True:\n    begin = start\n")
    result = build(project)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_start_callable_that_fails_to_load_at_boot_is_one_line(tmp_path: Path) -> None:
    project = svc(tmp_path)
    assert build(project).returncode == 0
    manifest = release_dir(project) / "releases" / "1.0.0" / "start.json"
    data = json.loads(manifest.read_text())
    for app in data["applications"]:
        if app["name"] == "svc":
            app["start"] = "svc.app:strat"  # as if the module changed after the build
    manifest.write_text(json.dumps(data))
    with node(release_dir(project) / "bin" / "svc") as n:
        assert n.wait(60) == 1
        out = n.output()
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if "svc.app:strat" in line]
    assert len(lines) == 1, out
    assert "start callable" in lines[0] and "strat" in lines[0]


def test_a_syntax_error_in_runtime_config_is_caught_at_build(tmp_path: Path) -> None:
    runtime = "from pyrelease.node.appconfig import config\nconfig('svc', port=)\n"
    project = svc(tmp_path, files={"config/runtime.py": runtime})
    result = build(project)
    assert_user_error(result, "config/runtime.py", "line 2")
    assert not release_dir(project).exists()


def test_a_syntax_error_in_a_config_provider_module_is_caught_at_build(tmp_path: Path) -> None:
    tool = MOD + '[tool.pyrelease.releases.svc]\nconfig_providers = ["svc.prov:load"]\n'
    project = svc(tmp_path, tool, {"src/svc/prov.py": "def load(config):\n    return config +\n"})
    result = build(project)
    assert_user_error(result, "svc.prov", "line 2")
    assert not release_dir(project).exists()


def test_a_build_time_config_error_names_the_file_and_line(tmp_path: Path) -> None:
    config = "import os\n\nPORT = int(os.environ.get('BUILD_PORT', 'eighty'))\n"
    project = svc(tmp_path, files={"config/config.py": config})
    result = build(project)
    assert_user_error(result, "config/config.py line 3: ValueError: invalid literal")
    assert "ValueError(" not in result.stderr
    assert not (project / "_build").exists()


def test_a_runtime_config_error_at_boot_names_the_file_and_line(tmp_path: Path) -> None:
    runtime = (
        "import os\nfrom pyrelease.node.appconfig import config\n\n"
        "config('svc', port=int(os.environ.get('PORT', '4000')))\n"
    )
    project = svc(tmp_path, files={"config/runtime.py": runtime})
    assert build(project).returncode == 0
    script = release_dir(project) / "bin" / "svc"
    out = run(script, "eval", "print(1)", env={"PORT": "eighty"})
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    assert out.stderr.startswith("ERROR: config/runtime.py line 4: ValueError: "), out.stderr
    assert "ValueError(" not in out.stderr  # words, not a repr


# --- error polish --------------------------------------------------------------------------


def test_a_typo_in_applications_gets_a_suggestion(tmp_path: Path) -> None:
    project = svc(
        tmp_path, MOD + '[tool.pyrelease.releases.svc]\napplications = { scv = "load" }\n'
    )
    result = build(project)
    assert_user_error(result, "scv", "did you mean `svc`?")
    assert "re-lock" not in result.stderr
    assert not release_dir(project).exists()


def test_an_unreadable_cookie_is_one_sentence(tmp_path: Path) -> None:
    project = svc(tmp_path)
    assert build(project).returncode == 0
    release = release_dir(project)
    (release / "releases" / "COOKIE").mkdir()  # readable by nobody as a file
    script = release / "bin" / "svc"
    for command in ("pid", "stop"):
        out = run(script, command)
        assert out.returncode != 0
        assert "Traceback" not in out.stderr, out.stderr
        assert "ERROR: " in out.stderr and "releases/COOKIE" in out.stderr, out.stderr
        assert "RELEASE_COOKIE" in out.stderr
    with node(script) as n:
        assert n.wait(60) == 1
        out = n.output()
    assert "Traceback" not in out and "releases/COOKIE" in out, out


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as a second, unprivileged user")
def test_a_cookie_of_another_user_is_one_sentence(tmp_path: Path) -> None:
    project = svc(tmp_path, MOD + '[tool.pyrelease.releases.svc]\ncookie = "secret_cookie_1"\n')
    assert build(project).returncode == 0
    for parent in [tmp_path, *tmp_path.parents]:
        os.chmod(parent, os.stat(parent).st_mode | 0o005)  # others may traverse, as on a server
    script = release_dir(project) / "bin" / "svc"
    nobody = 65534
    own_tmp = tmp_path / "othertmp"
    own_tmp.mkdir(mode=0o700)
    os.chown(own_tmp, nobody, nobody)
    out = subprocess.run(
        [str(script), "pid"],
        env={**base_env(), "RELEASE_TMP": str(own_tmp), "HOME": "/"},
        capture_output=True, text=True, timeout=60, user=nobody, group=nobody,
    )  # fmt: skip
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    assert "releases/COOKIE" in out.stderr and "permission" in out.stderr.lower(), out.stderr
