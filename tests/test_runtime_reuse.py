"""A rebuild hard-links the runtime files of the release it replaces instead of
copying them, and only where that cannot be seen: the rebuilt release equals a
clean build, a failed rebuild leaves the previous release (modes included) as
it was, and no file of the new release stays shared with anything else."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import make_dist

pytestmark = pytest.mark.e2e

SVC = """
def start(ctx):
    return True
"""
STEPS = """
import os


def check(release):
    if os.environ.get("FAIL_STEP") == "write":  # rewrites a runtime file in place
        python = next(p for p in next(release.path.glob("runtime-*")).glob("bin/python3.*"))
        with open(python, "r+b") as f:
            f.write(b"overwritten by a step")
    if os.environ.get("FAIL_STEP"):
        raise RuntimeError("upload refused")
    return release
"""
TOOL = '[tool.pyrelease]\nmod = "svc.app:start"\n'
WITH_STEP = TOOL + '[tool.pyrelease.releases.svc]\nsteps = ["assemble", "buildsteps:check"]\n'


def build(project: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "--overwrite", *args],
        cwd=project, env={**os.environ, **(env or {})}, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def project_at(base: Path, tool: str = TOOL) -> Path:
    project = make_dist(base, "svc", "svc", SVC, "[]", tool)
    (project / "buildsteps.py").write_text(STEPS)
    return project


def state(root: Path) -> dict[str, tuple[int, bytes | str]]:
    """Every entry below ``root``: its mode and its bytes (or link target)."""
    found: dict[str, tuple[int, bytes | str]] = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        rel = str(path.relative_to(root))
        if stat.S_ISLNK(st.st_mode):
            found[rel] = (0, os.readlink(path))
        elif stat.S_ISDIR(st.st_mode):
            found[rel] = (stat.S_IMODE(st.st_mode), "dir")
        else:
            found[rel] = (stat.S_IMODE(st.st_mode), path.read_bytes())
    return found


def runtime_file(release: Path, name: str) -> Path:
    """A file of the release's runtime: ``bin/python3.X`` or a stdlib module."""
    runtime = next(release.glob("runtime-*"))
    if name == "python":
        return next(p for p in (runtime / "bin").iterdir() if not p.is_symlink())
    return next((runtime / "lib").glob(f"python3.*/{name}"))


def edit_app(project: Path, line: str) -> None:
    app = project / "src" / "svc" / "app.py"
    app.write_text(app.read_text() + f"\n{line}\n")


def test_a_rebuild_links_the_unchanged_runtime_files_and_equals_a_clean_build(
    tmp_path: Path,
) -> None:
    project = project_at(tmp_path / "edited")
    build(project)
    release = project / "_build" / "prod" / "rel" / "svc"
    python = runtime_file(release, "python")
    inode = python.stat().st_ino

    # An edit that keeps the size and the time of the file: the bytes decide.
    edited = runtime_file(release, "os.py*")
    size, data = edited.stat().st_size, bytearray(edited.read_bytes())
    data[-1] ^= 0x01
    mtime = edited.stat().st_mtime_ns
    edited.write_bytes(bytes(data))
    os.utime(edited, ns=(mtime, mtime))
    assert edited.stat().st_size == size
    # A file that something outside the release shares: never linked again.
    backup = tmp_path / "backup"
    backup.mkdir()
    shared = runtime_file(release, "codecs.py*")
    os.link(shared, backup / "codecs")

    edit_app(project, "EDITED = 1")
    build(project)
    assert python.stat().st_ino == inode  # linked, not copied
    # The replaced release is left aside (hidden, beside it) for the next build to remove.
    [aside] = replaced(release)
    assert python.stat().st_nlink == 2
    with open(backup / "codecs", "ab") as f:
        f.write(b"# changed in the backup\n")

    clean = project_at(tmp_path / "clean")
    edit_app(clean, "EDITED = 1")
    build(clean)
    ours, theirs = state(release), state(clean / "_build" / "prod" / "rel" / "svc")
    ours.pop("releases/COOKIE", None), theirs.pop("releases/COOKIE", None)  # random if there
    assert ours == theirs

    # The next build removes it before linking: the file has one other name again.
    edit_app(project, "EDITED = 2")
    build(project)
    assert aside not in replaced(release) and len(replaced(release)) == 1
    assert python.stat().st_ino == inode and python.stat().st_nlink == 2


def replaced(release: Path) -> list[Path]:
    return sorted(release.parent.glob(f".{release.name}.old-*"))


def pruned(release: Path) -> list[str]:
    return (release / "releases" / "1.0.0" / "stdlib-pruned.txt").read_text().split()


def test_a_rebuild_that_imports_a_module_the_previous_release_pruned_has_it(
    tmp_path: Path,
) -> None:
    # A rebuild copies only the standard-library files the previous release kept;
    # the pruning copies in what it keeps now.
    project = project_at(tmp_path / "edited")
    build(project)
    release = project / "_build" / "prod" / "rel" / "svc"
    assert {"xml.dom.minidom", "smtplib"} <= set(pruned(release))

    edit_app(project, "import xml.dom.minidom")
    build(project)
    assert "xml.dom.minidom" not in pruned(release)
    assert "smtplib" in pruned(release)
    python = runtime_file(release, "python")
    subprocess.run([python, "-I", "-c", "import xml.dom.minidom"], check=True, timeout=60)

    clean = project_at(tmp_path / "clean")
    edit_app(clean, "import xml.dom.minidom")
    build(clean)
    ours, theirs = state(release), state(clean / "_build" / "prod" / "rel" / "svc")
    ours.pop("releases/COOKIE", None), theirs.pop("releases/COOKIE", None)  # random if there
    assert ours == theirs


def failed_rebuild(project: Path, how: str) -> None:
    edit_app(project, "EDITED = 1")
    failed = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "--overwrite"],
        cwd=project, env={**os.environ, "FAIL_STEP": how}, capture_output=True, text=True,
        timeout=600, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "upload refused" in failed.stderr


def test_a_step_after_assemble_cannot_write_through_to_the_previous_release(
    tmp_path: Path,
) -> None:
    project = project_at(tmp_path, WITH_STEP)
    build(project)
    release = project / "_build" / "prod" / "rel" / "svc"
    before = state(release)
    failed_rebuild(project, "write")
    assert state(release) == before


def test_a_failed_rebuild_over_a_read_only_release_leaves_its_modes(tmp_path: Path) -> None:
    project = project_at(tmp_path, WITH_STEP)
    build(project)
    release = project / "_build" / "prod" / "rel" / "svc"
    for path in [release, *release.rglob("*")]:  # releases are made read-only on servers
        if not path.is_symlink():
            os.chmod(path, stat.S_IMODE(path.lstat().st_mode) & ~0o222)
    before = state(release)
    failed_rebuild(project, "1")
    assert state(release) == before
    for path in [release, *release.rglob("*")]:
        if not path.is_symlink():
            os.chmod(path, stat.S_IMODE(path.lstat().st_mode) | 0o200)
    shutil.rmtree(release)


def times_and_modes(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (stat.S_IMODE(st.st_mode), st.st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if not stat.S_ISLNK((st := path.lstat()).st_mode)
    }


def test_a_failed_rebuild_leaves_the_times_and_modes_of_files_it_could_have_linked(
    tmp_path: Path,
) -> None:
    """Only a file whose mode and time are already the release's is linked: the new
    release's normalising would otherwise change them in the previous release too."""
    tool = TOOL + '[tool.pyrelease.releases.svc]\nsteps = ["assemble", "tar"]\ntar_format = "gz"\n'
    project = project_at(tmp_path, tool)
    build(project)
    release = project / "_build" / "prod" / "rel" / "svc"
    touched = [
        runtime_file(release, "os.py*"),
        next(release.glob("releases/*/node/pyrelease/node/*.py")),
        next(release.glob("lib/svc-*/svc/app.py*")),
    ]
    for path in touched:  # as a backup tool or an operator could leave them
        os.utime(path, (1_000_000_000, 1_000_000_000))
    os.chmod(runtime_file(release, "codecs.py*"), 0o600)
    before = times_and_modes(release)

    # The tarball (several MB) cannot be written: the build fails after the new
    # release was assembled and normalised, before it is switched in.
    def limit_file_size() -> None:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (3_000_000, 3_000_000))

    edit_app(project, "EDITED = 1")
    failed = subprocess.run(
        [sys.executable, "-m", "pyrelease", "build", "--overwrite"],
        cwd=project, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL,
        preexec_fn=limit_file_size,
    )  # fmt: skip
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "cannot write the tarball _build/prod/svc-1.0.0.tar.gz" in failed.stderr
    assert "File too large" in failed.stderr and "Traceback" not in failed.stderr
    assert times_and_modes(release) == before


def test_scrubbing_store_paths_never_writes_through_a_link(tmp_path: Path) -> None:
    from pyrelease.assemble.runtime.loader import SCRUBBED, STORE, scrub_store_paths

    release = tmp_path / "release"
    release.mkdir()
    data = b"prefix " + STORE + b"abc-glibc/lib/ld.so suffix"
    (tmp_path / "previous").write_bytes(data)
    os.chmod(tmp_path / "previous", 0o755)
    os.link(tmp_path / "previous", release / "lib.so")
    assert scrub_store_paths(release) == [release / "lib.so"]
    assert (release / "lib.so").read_bytes() == data.replace(STORE, SCRUBBED)
    assert stat.S_IMODE((release / "lib.so").stat().st_mode) == 0o755
    assert (tmp_path / "previous").read_bytes() == data
    assert sorted(p.name for p in release.iterdir()) == ["lib.so"]
