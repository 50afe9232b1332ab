"""Releases of a uv workspace (examples/workspace): each release a chosen subset of members.

The example's uv.lock is made by scripts/setup (it names the package index, so it
is not committed); the packages it locks are fetched from the index at build time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import REPO, Node, copy_project, free_port, http_get, pyrelease, run

WORKSPACE = REPO / "examples" / "workspace"
EXPECTED = {
    "web_only": {"core-0.1.0", "web-0.3.0", "jinja2", "markupsafe"},
    "worker_only": {"core-0.1.0", "worker-0.2.0", "idna"},
    "all": {"core-0.1.0", "web-0.3.0", "worker-0.2.0", "jinja2", "markupsafe", "idna"},
}


def copy_workspace(dest: Path) -> Path:
    """A fresh checkout of the example workspace with its lock."""
    project = copy_project(WORKSPACE, dest)
    if not (project / "uv.lock").exists():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "lock", "--quiet"], cwd=project, check=True, timeout=600)
    return project


def build(project: Path, *args: str, cwd: Path | None = None) -> str:
    result = pyrelease("build", *args, cwd=cwd or project)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout + result.stderr


def lib_names(release: Path) -> set[str]:
    """``lib/`` entries, third-party ones without their (locked, changing) version."""
    names = set()
    for entry in (release / "lib").iterdir():
        name, _, _ = entry.name.partition("-")
        names.add(entry.name if name in ("core", "web", "worker") else name)
    return names


def rel(project: Path, name: str) -> Path:
    return project / "_build" / "prod" / "rel" / name


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built from its root (web_only, worker_only, all) and from apps/worker."""
    project = copy_workspace(tmp_path_factory.mktemp("one") / "checkout" / "workspace")
    for name in ("web_only", "worker_only", "all"):
        build(project, name, "--quiet")
    build(project, "--quiet", cwd=project / "apps" / "worker")
    return project


# -- configuration: no build needed ---------------------------------------------------------


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def small_workspace(root: Path, releases: str) -> Path:
    write(root / "pyproject.toml", '[tool.uv.workspace]\nmembers = ["apps/*"]\n' + releases)
    for name in ("alpha", "beta"):
        write(
            root / "apps" / name / "pyproject.toml",
            f'[project]\nname = "{name}"\nversion = "1.0"\n',
        )
    return root


@pytest.mark.parametrize(
    "releases",
    [
        '[tool.pyrelease.releases.r]\nversion = "1.0"\n',
        '[tool.pyrelease.releases.r]\nversion = "1.0"\napplications = { jinja2 = "permanent" }\n',
    ],
    ids=["no applications", "no member among them"],
)
def test_a_root_release_must_name_a_member(tmp_path: Path, releases: str) -> None:
    root = small_workspace(tmp_path / "ws", releases)
    result = pyrelease("build", "r", cwd=root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "must name at least one workspace member" in result.stderr
    assert "the members are: alpha, beta" in result.stderr
    assert not (root / "_build").exists()


def test_a_root_without_releases_is_told_to_define_them(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws", "")
    result = pyrelease("build", cwd=root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "defines no releases" in result.stderr and "alpha, beta" in result.stderr


def test_a_root_with_a_project_is_a_member_held_only_when_named(tmp_path: Path) -> None:
    from pyrelease.config import load_project, select_release
    from pyrelease.errors import ConfigError

    releases = (
        '[project]\nname = "umbrella"\nversion = "2.0"\n'
        '[tool.pyrelease.releases.own]\napplications = { umbrella = "permanent" }\n'
        '[tool.pyrelease.releases.none]\napplications = { jinja2 = "permanent" }\n'
    )
    root = small_workspace(tmp_path / "ws", "")
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(releases + text)
    project = load_project(root)
    assert project.workspace_root and not project.virtual
    assert sorted(project.workspace.members) == ["alpha", "beta", "umbrella"]
    assert select_release(project, "own").applications == (("umbrella", "permanent"),)
    with pytest.raises(ConfigError, match="the members are: alpha, beta, umbrella"):
        select_release(project, "none")


def test_members_are_found_by_glob_and_exclude(tmp_path: Path) -> None:
    from pyrelease import workspace

    root = small_workspace(tmp_path / "ws", "")
    text = (root / "pyproject.toml").read_text()
    (root / "pyproject.toml").write_text(text + 'exclude = ["apps/beta"]\n')
    write(root / "libs" / "gamma" / "pyproject.toml", '[project]\nname = "Gamma_X"\n')
    found = workspace.load(root)
    assert sorted(found.members) == ["alpha"]
    assert found.virtual_root
    assert workspace.find(root / "apps" / "alpha") == found
    # A project below the root that no glob lists stands alone, as in uv.
    assert workspace.find(root / "libs" / "gamma") is None
    assert workspace.find(root / "apps" / "beta") is None


def test_a_member_glob_matching_a_folder_without_pyproject_is_an_error(tmp_path: Path) -> None:
    root = small_workspace(tmp_path / "ws", '[tool.pyrelease.releases.r]\nversion = "1.0"\n')
    (root / "apps" / "notes").mkdir()
    result = pyrelease("build", "r", cwd=root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "workspace member apps/notes has no pyproject.toml" in result.stderr


def test_a_workspace_without_its_lock_says_how_to_make_it(tmp_path: Path) -> None:
    releases = '[tool.pyrelease.releases.r]\nversion = "1.0"\napplications = { alpha = "load" }\n'
    root = small_workspace(tmp_path / "ws", releases)
    result = pyrelease("build", "r", cwd=root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "has no uv.lock" in result.stderr and "uv lock" in result.stderr


def test_every_member_s_requires_python_is_checked(tmp_path: Path) -> None:
    root = copy_workspace(tmp_path / "ws")
    worker = root / "apps" / "worker" / "pyproject.toml"
    worker.write_text(worker.read_text().replace('">=3.11"', '"<3.11"'))
    result = pyrelease("build", "web_only", cwd=root)
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "workspace member worker requires Python <3.11" in result.stderr
    assert not (root / "_build" / "prod" / "rel").exists()


# -- end to end -------------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_release_holds_exactly_its_members_and_their_dependencies(
    built: Path, name: str
) -> None:
    release = rel(built, name)
    assert lib_names(release) == EXPECTED[name]
    # The root's overlays and the default strip apply to every release of the workspace.
    assert (release / "README.release.txt").is_file()
    core = release / "lib" / "core-0.1.0" / "core"  # a member: the project's own, sources kept
    assert (core / "__init__.py").is_file() and list((core / "__pycache__").glob("__init__.*"))
    assert not (core / "__init__.pyc").exists()


@pytest.mark.e2e
def test_all_starts_web_and_worker_in_dependency_order_and_stops_them_in_reverse(
    built: Path,
) -> None:
    release = rel(built, "all")
    manifest = json.loads((release / "releases" / "1.0.0" / "start.json").read_text())
    order = [app["name"] for app in manifest["applications"]]
    assert order.index("core") < order.index("web") < order.index("worker")
    assert order.index("markupsafe") < order.index("jinja2") < order.index("web")
    node = Node(release / "bin" / "all", {"WEB_PORT": "0"})
    try:
        node.wait_for("[node] all 1.0.0 started", timeout=60)
        assert run(release / "bin" / "all", "stop").returncode == 0
        assert node.wait(60) == 0
        output = node.output()
    finally:
        node.stop()
    lines = [
        line
        for line in output.splitlines()
        if line.startswith(("web started", "worker started", "web stopping", "worker stopping"))
    ]
    assert [line.split()[0:2] for line in lines] == [
        ["web", "started"],
        ["worker", "started:"],
        ["worker", "stopping"],
        ["web", "stopping"],
    ]
    assert "Hello, worker, from core 0.1.0" in output


@pytest.mark.e2e
def test_web_only_never_imports_worker_code(built: Path) -> None:
    release = rel(built, "web_only")
    for path in release.rglob("*"):
        assert "worker" not in path.name, path
    port = free_port()
    node = Node(release / "bin" / "web_only", {"WEB_PORT": str(port)})
    try:
        node.wait_for("web started", timeout=60)
        status, body = http_get(f"http://127.0.0.1:{port}/modules")
        assert status == 200
        modules = json.loads(body)
        assert "web" in modules and "core" in modules and "jinja2" in modules
        assert "worker" not in modules and "idna" not in modules
        status, body = http_get(f"http://127.0.0.1:{port}/")
        assert body == "Hello, web, from core 0.1.0 (web_only)\n"
        assert run(release / "bin" / "web_only", "stop").returncode == 0
        assert node.wait(60) == 0
    finally:
        node.stop()


@pytest.mark.e2e
def test_a_member_builds_on_its_own_with_the_workspace_lock(built: Path) -> None:
    member = built / "apps" / "worker"
    assert not (member / "uv.lock").exists()
    release = member / "_build" / "prod" / "rel" / "worker"
    assert lib_names(release) == EXPECTED["worker_only"]
    node = Node(release / "bin" / "worker")
    try:
        node.wait_for("[node] worker 0.2.0 started", timeout=60)
        assert "worker started: Hello, worker" in node.output()
        assert run(release / "bin" / "worker", "stop").returncode == 0
        assert node.wait(60) == 0
        assert "worker stopping" in node.output()
    finally:
        node.stop()


@pytest.mark.e2e
def test_two_checkouts_give_identical_tarballs_and_edits_rebuild_one_member(
    built: Path, tmp_path: Path
) -> None:
    other = copy_workspace(tmp_path / "two-elsewhere" / "ws")
    shutil.copyfile(built / "uv.lock", other / "uv.lock")
    result = subprocess.run(
        ["sh", "-c", f"umask 077 && exec {sys.executable} -m pyrelease build all --quiet"],
        cwd=other,
        env={**os.environ, "PYTHONHASHSEED": "7"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    tarball = "_build/prod/all-1.0.0.tar.xz"
    assert (other / tarball).read_bytes() == (built / tarball).read_bytes()

    # The up-to-date check: an edit in a member the release holds is noticed, and only
    # that member is compiled again; an edit in a member it does not hold is not a change.
    build(other, "web_only")
    assert "is up to date" in build(other, "web_only")
    with open(other / "apps" / "web" / "src" / "web" / "app.py", "a") as f:
        f.write("# an edit\n")
    refused = pyrelease("build", "web_only", cwd=other)
    assert refused.returncode != 0
    assert "release web_only-0.3.0 already exists" in refused.stderr
    out = build(other, "web_only", "--overwrite")
    assert "compiling 1 of 4 distributions (web)" in out
    with open(other / "apps" / "worker" / "src" / "worker" / "main.py", "a") as f:
        f.write("# an edit\n")
    assert "is up to date" in build(other, "web_only")
    out = build(other, "all", "--overwrite")
    assert "compiling 1 of 6 distributions (worker)" in out
    with open(other / "apps" / "core" / "src" / "core" / "__init__.py", "a") as f:
        f.write("# an edit\n")
    out = build(other, "web_only", "--overwrite")
    assert "compiling 1 of 4 distributions (core)" in out
