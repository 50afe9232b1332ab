"""The flake, built by the real ``nix`` with the stub nixpkgs, offline, in throwaway stores:
``nix build .#release-demo`` gives a release of examples/demo (with its C extension)
that starts and answers HTTP, ``--rebuild`` passes, two clones in two directories give
identical outputs, the tarball is byte for byte what ``pyrelease build``'s tar step
writes outside Nix with the same inputs, the closure variant keeps its Python in the
store, and ``nix flake check`` passes.

What the stub cannot show: nixpkgs' own CPython (here the host's Python 3.11 stands
in for it) and builds for other systems; the project's GitHub workflow runs those.
"""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from helpers import copy_project, free_port, http_get, node, wait_http
from nixhelpers import (
    SKIP_REASON,
    build,
    copy_tracked,
    flake_ref,
    have_nix,
    in_store,
    nix,
    stub_args,
    stub_usable,
)

pytestmark = [
    pytest.mark.skipif(not (have_nix() and stub_usable()), reason=SKIP_REASON),
    pytest.mark.nix,
]


def _fnv1a(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for byte in data:
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_tracked(tmp_path_factory.mktemp("clone-a") / "pyrelease")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("store-a")


@pytest.fixture(scope="module")
def release_demo(clone: Path, store: Path) -> Path:
    return build(clone, "release-demo", store)


def test_release_demo_starts_and_answers_http(release_demo: Path, tmp_path: Path) -> None:
    # A copy, moved away from its store: it must run anywhere (and the store stays as built).
    copy = tmp_path / "moved" / "demo"
    shutil.copytree(release_demo, copy, symlinks=True)
    port = free_port()
    with node(copy / "bin" / "demo", {"PORT": str(port)}) as n:
        status, body = wait_http(f"http://127.0.0.1:{port}/", n.proc, timeout=60)
        assert status == 200
        assert body == "Hello from demo 0.1.0!\n"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as page:
            etag = f'"{_fnv1a(body.encode()):016x}"'  # computed by the C extension
            assert page.headers["ETag"] == etag
        assert http_get(f"http://127.0.0.1:{port}/health") == (200, "ok\n")
        n.wait_for("demo_extra started")


def test_the_release_names_no_store_path_and_holds_no_cookie(release_demo: Path) -> None:
    grep = subprocess.run(["grep", "-rl", "/nix/store", str(release_demo)], capture_output=True)
    assert grep.returncode == 1, grep.stdout  # 1: nothing found
    assert not list(release_demo.rglob("COOKIE"))
    assert list(release_demo.glob("runtime-*/bin/python3*"))  # the runtime is bundled


def test_rebuild_gives_the_same_bytes(clone: Path, store: Path, release_demo: Path) -> None:
    result = nix("build", f"{flake_ref(clone)}#release-demo", "--rebuild", "--no-link",
                 *stub_args(store))  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "may not be deterministic" not in result.stderr


def test_rebuild_notices_a_build_that_is_not_deterministic(tmp_path: Path) -> None:
    # The check above can fail: a derivation writing the time does not pass --rebuild.
    flake = tmp_path / "clock"
    flake.mkdir()
    (flake / "flake.nix").write_text(
        "{ outputs = { self }: { packages.x86_64-linux.default = derivation {"
        ' name = "clock"; system = "x86_64-linux"; builder = "/bin/sh";'
        ' args = [ "-c" "/bin/date +%s%N > $out" ]; }; }; }'
    )
    store = tmp_path / "store"
    build(flake, "default", store)
    again = nix("build", f"{flake_ref(flake)}#default", "--rebuild", "--no-link",
                "--offline", "--store", str(store))  # fmt: skip
    assert again.returncode != 0 and "may not be deterministic" in again.stderr


def test_two_clones_in_two_directories_build_identical_releases(
    release_demo: Path, tmp_path: Path
) -> None:
    other = copy_tracked(tmp_path / "elsewhere" / "checkout")
    second = build(other, "release-demo", tmp_path / "store-b")
    assert second.name == release_demo.name  # same derivation, built in another store
    compared = filecmp.dircmp(release_demo, second)
    assert _differences(compared) == []


def _differences(cmp: filecmp.dircmp) -> list[str]:
    out = [*cmp.left_only, *cmp.right_only, *cmp.diff_files, *cmp.funny_files]
    _, mismatch, errors = filecmp.cmpfiles(cmp.left, cmp.right, cmp.common_files, shallow=False)
    out += mismatch + errors
    for sub in cmp.subdirs.values():
        out += _differences(sub)
    return out


def test_the_tarball_is_what_pyrelease_build_packs_outside_nix(
    clone: Path, store: Path, tmp_path: Path
) -> None:
    # The same inputs as the derivation: the same Python (the stub's, running
    # pyrelease and bundled), SOURCE_DATE_EPOCH, --offline, target and sources, but
    # built by `pyrelease build` outside Nix, in another directory, from the
    # repository's own sources: its tar step writes the flake's tarball, byte for byte.
    tarball = build(clone, "release-demo-tarball", store)
    assert tarball.name.endswith("-demo-0.1.0.tar.xz") and tarball.is_file()
    python = nix("eval", "--raw", f"{flake_ref(clone)}#release-demo.python.outPath",
                 *stub_args(store))  # fmt: skip
    assert python.returncode == 0, python.stderr
    project = copy_project(clone / "examples" / "demo", tmp_path / "outside" / "demo")
    pyproject = project / "pyproject.toml"
    header = "[tool.pyrelease.releases.demo]\n"
    pyproject.write_text(
        pyproject.read_text().replace(header, f'{header}steps = ["assemble", "tar"]\n')
    )
    (tmp_path / "links").mkdir()  # the demo's lock names no file: nothing to find
    src = str(clone / "src")  # the same sources as the flake
    tool = f"import sys; sys.path.insert(0, {src!r}); from pyrelease.cli import main; main()"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8",
           "SOURCE_DATE_EPOCH": "315532800", "PYTHONHASHSEED": "0"}  # fmt: skip
    out = subprocess.run(
        ["/usr/bin/python3.11", "-c", tool, "build", "demo", "--offline", "--find-links",
         str(tmp_path / "links"), "--target", "x86_64-unknown-linux-gnu", "--include-runtime",
         str(in_store(store, python.stdout))],
        cwd=project, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    ours = project / "_build" / "prod" / "demo-0.1.0.tar.xz"
    assert ours.read_bytes() == tarball.read_bytes(), _members_that_differ(ours, tarball)
    with tarfile.open(tarball) as tar:  # the store is world-readable: no secret in it
        names = tar.getnames()
    assert not [m for m in names if m.endswith("COOKIE")]
    # The compiled extension is in it: built in two different directories, the same bytes.
    assert [m for m in names if m.startswith("lib/demo_speedups-0.1.0/demo_speedups/_fnv.")]


def _members_that_differ(a: Path, b: Path) -> list[str]:
    with tarfile.open(a) as ta, tarfile.open(b) as tb:
        ma = {m.name: m for m in ta.getmembers()}
        mb = {m.name: m for m in tb.getmembers()}
        names = sorted(set(ma) | set(mb))
        return [
            n for n in names
            if n not in ma or n not in mb or ma[n].get_info() != mb[n].get_info()
            or (ma[n].isreg() and ta.extractfile(n).read() != tb.extractfile(n).read())
        ][:20]  # fmt: skip


def test_the_closure_variant_keeps_its_python_in_the_store(clone: Path, store: Path) -> None:
    closure = build(clone, "release-demo-closure", store)
    assert not list(closure.glob("runtime-*"))  # smaller: no bundled runtime
    env_sh = (closure / "releases" / "0.1.0" / "env.sh").read_text()
    assert "PATH=/nix/store/" in env_sh
    assert not list(closure.rglob("COOKIE"))


def test_flake_check_passes(clone: Path, store: Path) -> None:
    result = nix("flake", "check", flake_ref(clone), *stub_args(store))
    assert result.returncode == 0, result.stderr[-3000:]


def test_the_tool_runs_from_the_flake(clone: Path, store: Path, tmp_path: Path) -> None:
    tool = build(clone, "pyrelease", store)
    app = nix("eval", "--raw", f"{flake_ref(clone)}#apps.x86_64-linux.pyrelease.program",
              *stub_args(store))  # fmt: skip
    assert app.returncode == 0, app.stderr
    assert app.stdout.endswith(f"/{tool.name}/bin/pyrelease")
    # Its paths point into the throwaway store: run the script with them translated.
    text = (tool / "bin" / "pyrelease").read_text()
    assert text.startswith("#!/nix/store/") and text.splitlines()[0].endswith("/bin/python3")
    script = tmp_path / "pyrelease"
    script.write_text(text.replace("/nix/store/", f"{store}/nix/store/"))
    out = subprocess.run(["/usr/bin/python3.11", str(script), "--help"], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "nix-lock" in out.stdout


def test_release_deploy_runs_from_the_flake(clone: Path, store: Path, tmp_path: Path) -> None:
    tool = build(clone, "pyrelease", store)
    app = nix("eval", "--raw", f"{flake_ref(clone)}#apps.x86_64-linux.release-deploy.program",
              *stub_args(store))  # fmt: skip
    assert app.returncode == 0, app.stderr
    assert app.stdout.endswith(f"/{tool.name}/bin/release-deploy")
    text = (tool / "bin" / "release-deploy").read_text()
    script = tmp_path / "release-deploy"
    script.write_text(text.replace("/nix/store/", f"{store}/nix/store/"))
    out = subprocess.run(["/usr/bin/python3.11", str(script), "--help"], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "pull" in out.stdout and "push" in out.stdout
