"""The compile step: a build environment under ``_build/ENV/venv``.

The project and its locked dependencies are installed into a virtual
environment made with the *target* Python (never the user's own environment).
The installer is uv (``uv pip install --python VENV``, a dependency of
pyrelease) when it is available for the platform, else the build tool's pip
(``pip --python VENV``); ``PYRELEASE_INSTALLER=pip`` or ``=uv`` picks one.
Both install exactly the lock's artifacts, checked against its hashes.

The environment is rebuilt from scratch when the lock or the Python changes.
A local package (the project, a directory the lock names) is installed again
when its sources changed, from a wheel built with pip for the environment's
Python (``pip --python VENV wheel``, pip's own index settings, build
isolation), so a compiled extension matches the release's Python. That wheel
is kept in ``~/.cache/pyrelease/wheels/`` (``$XDG_CACHE_HOME``) under the
digest of the sources and that Python's version, so a rebuild of the
environment (``--force``, a new lock, a fresh clone of the same sources)
reinstalls unchanged local packages without building them again. When only
module files of a package changed since its last wheel, the new wheel is
written from that one without a build, and the environment is updated in
place (:mod:`pyrelease.localwheel`). A wheel installs the same files as the
directory it was built from, so the release is the same either way. Compiled
extensions are built with their source directory mapped away
(:mod:`pyrelease.buildpaths`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from packaging.tags import Tag, compatible_tags, cpython_tags, platform_tags

from pyrelease import localwheel
from pyrelease.buildpaths import path_independent_env
from pyrelease.console import Console
from pyrelease.errors import BuildError
from pyrelease.lockfile import LockedArtifact, read_lock, without
from pyrelease.sources import VENV_STAMP, digest_of, find_lock, source_hashes

T = TypeVar("T")

_MARKER_ENV_SNIPPET = """
import json, os, platform, sys
iv = sys.implementation.version
ver = f"{iv.major}.{iv.minor}.{iv.micro}"
if iv.releaselevel != "final":
    ver += iv.releaselevel[0] + str(iv.serial)
print(json.dumps({
    "implementation_name": sys.implementation.name,
    "implementation_version": ver,
    "os_name": os.name,
    "platform_machine": platform.machine(),
    "platform_release": platform.release(),
    "platform_system": platform.system(),
    "platform_version": platform.version(),
    "python_full_version": platform.python_version(),
    "platform_python_implementation": platform.python_implementation(),
    "python_version": ".".join(platform.python_version_tuple()[:2]),
    "sys_platform": sys.platform,
}))
"""


@functools.cache
def marker_environment(python: Path) -> dict[str, str]:
    """PEP 508 marker values of the target interpreter (asked once per interpreter).

    Remembered in the user's cache, keyed by the interpreter's file (a venv's
    ``bin/python`` is its base interpreter) and by this machine's kernel release,
    which ``platform_release`` and ``platform_version`` report.
    """
    from pyrelease.cachedirs import interpreter_key, remembered

    uname = os.uname()
    key = interpreter_key(python, _MARKER_ENV_SNIPPET, uname.release, uname.version)
    return remembered("markers", key, lambda: _ask_markers(python))


def _ask_markers(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(python), "-I", "-S", "-c", _MARKER_ENV_SNIPPET],
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def target_tags(version_short: str) -> list[Tag]:
    """Wheel tags the target CPython accepts, best first (same platform as the host)."""
    major, minor = (int(p) for p in version_short.split(".")[:2])
    platforms = list(platform_tags())
    interp = f"cp{major}{minor}"
    return [
        *cpython_tags((major, minor), [interp, "abi3", "none"], platforms),
        *compatible_tags((major, minor), interp, platforms),
    ]


def venv_python(venv: Path) -> Path:
    """The interpreter of a build environment."""
    return venv / "bin" / "python"


def site_packages(venv: Path) -> Path:
    """The one site-packages directory of a build environment."""
    found = sorted(venv.glob("lib/python3.*/site-packages"))
    if not found:
        raise BuildError(f"the build environment {venv} has no site-packages; rebuild with --force")
    return found[0]


def local_names(venv: Path) -> set[str]:
    """Canonical names of the local packages (the project, directories the lock names)
    the last :func:`prepare` installed into ``venv``; empty when it recorded none."""
    import tomllib

    from packaging.utils import canonicalize_name

    try:
        stamp = json.loads((venv / VENV_STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return set()
    names = set()
    for folder in stamp.get("sources", {}) if isinstance(stamp, dict) else ():
        try:
            data = tomllib.loads((Path(folder) / "pyproject.toml").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        name = data.get("project", {}).get("name")
        if isinstance(name, str):
            names.add(canonicalize_name(name))
    return names


INSTALLER_VARIABLE = "PYRELEASE_INSTALLER"


@functools.cache
def uv_executable() -> str | None:
    """uv's executable (from the ``uv`` package), or None to install with pip."""
    choice = os.environ.get(INSTALLER_VARIABLE, "")
    if choice not in ("", "uv", "pip"):
        raise BuildError(
            f"{INSTALLER_VARIABLE} must be uv or pip, got {choice!r}; "
            "unset it to use uv when available, else pip"
        )
    if choice == "pip":
        return None
    try:
        from uv import find_uv_bin

        return os.fsdecode(find_uv_bin())
    except (ImportError, FileNotFoundError):
        if choice == "uv":
            raise BuildError(
                f"{INSTALLER_VARIABLE}=uv but uv is not installed for this platform; "
                "install it (pip install uv) or unset the variable to use pip"
            ) from None
        return None


def _run(cmd: list[str], what: str, env: dict[str, str] | None = None) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise BuildError(f"installing {what} into the build environment failed:\n{tail}")


def _pip(args: list[str], venv: Path, what: str, *, uv: bool = False) -> None:
    """``pip install ARGS`` into ``venv``; with ``uv``, uv's when available.

    uv is used only for installs that need no index (hashed artifacts of the lock,
    wheel files): pip's index settings (its configuration files) are not uv's.
    """
    exe = uv_executable() if uv else None
    if exe is not None:
        flags = ["--reinstall" if a == "--force-reinstall" else a for a in args]
        if "--no-index" in flags:  # offline: no index and no network at all, local files only
            flags.insert(0, "--offline")
        _run([exe, "pip", "install", "--no-config", "--quiet", "--link-mode", "copy",
              "--python", str(venv_python(venv)), *flags], what)  # fmt: skip
        return
    _run([sys.executable, "-m", "pip", "--python", str(venv_python(venv)),
          "--disable-pip-version-check", "--no-input", "install", *args], what)  # fmt: skip


def default_wheel_cache() -> Path:
    """``$XDG_CACHE_HOME/pyrelease/wheels`` (``~/.cache/pyrelease/wheels``)."""
    from pyrelease.cachedirs import user_cache_dir

    return user_cache_dir() / "wheels"


def _slot(cache: Path, digest: str, python_version: str) -> Path:
    """Where the wheel of a local package with sources ``digest`` is kept, for that Python
    (a compiled extension is built for one Python version)."""
    return cache / hashlib.sha256(f"{digest}\0{python_version}".encode()).hexdigest()[:32]


def _cached_wheel(slot: Path) -> Path | None:
    found = sorted(slot.glob("*.whl")) if slot.is_dir() else []
    return found[0] if len(found) == 1 else None


def _fill_slot(slot: Path, fill: Callable[[Path], T]) -> T:
    """Run ``fill`` on a private folder, then rename it to ``slot`` (another build's wins)."""
    slot.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{slot.name}.filling-", dir=slot.parent))
    try:
        result = fill(staging)
        if result is not None:
            if slot.is_dir() and _cached_wheel(slot) is None:
                shutil.rmtree(slot, ignore_errors=True)  # a broken slot: replace it
            try:
                os.rename(staging, slot)
            except OSError:  # filled meanwhile by a build of the same sources: the same wheel
                if _cached_wheel(slot) is None:
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return result


def _build_wheel(package: Path, files: dict[str, str], slot: Path, venv: Path) -> Path:
    """Build a wheel of the local ``package`` with pip (PEP 517) into ``slot``.

    Built by pip running for the environment's Python (``pip --python``), so a
    compiled extension is built for the release's Python, not for the one
    running pyrelease; built where it is, its path mapped away, so the same
    sources give the same wheel.
    """

    def fill(staging: Path) -> str:
        _run([sys.executable, "-m", "pip", "--python", str(venv_python(venv)),
              "--disable-pip-version-check", "--no-input", "wheel",
              "--no-deps", "--wheel-dir", str(staging), str(package)], f"{package}",
             env=path_independent_env([package]))  # fmt: skip
        built = sorted(staging.glob("*.whl"))
        if len(built) != 1:
            raise BuildError(f"building {package} gave {len(built)} wheels instead of one")
        localwheel.record_sources(staging, built[0], files)
        return built[0].name

    return slot / _fill_slot(slot, fill)


def _derive_wheel(
    package: Path, files: dict[str, str], base: Path, slot: Path
) -> localwheel.Derived | None:
    """The wheel of ``package`` written from the one in ``base`` (see :mod:`.localwheel`)."""
    derived = _fill_slot(slot, lambda staging: localwheel.derive(package, base, files, staging))
    if derived is not None:
        derived.wheel = slot / derived.wheel.name
    return derived


def _local_wheels(
    changed: list[str],
    files: dict[str, dict[str, str]],
    digests: dict[str, str],
    last: dict[str, str],
    venv: Path,
    python_version: str,
    cache: Path,
    console: Console,
    *,
    in_place: bool,
) -> list[str]:
    """The wheels to install for the ``changed`` local packages: cached, derived or built.

    ``last`` holds the digests of the local packages the last build installed:
    a package changed only in its modules gets a wheel written from that build's.
    With ``in_place`` the environment still holds them, and is updated in place
    (that package needs no wheel installed).
    """
    wheels, reused, derived_names, updated = [], [], [], []
    for package in changed:
        digest = digests[package]
        slot = _slot(cache, digest, python_version)
        wheel = _cached_wheel(slot)
        base = last.get(package)
        last_slot = None if base is None else _slot(cache, base, python_version)
        if wheel is not None:
            # Sources seen before (an edit undone, a branch switched back): the installed
            # copy is updated in place when it can be, as for a new edit, not reinstalled.
            derived = None
            if in_place and last_slot is not None and _cached_wheel(last_slot) is not None:
                derived = localwheel.cached_changes(Path(package), last_slot, files[package], wheel)
            if derived is not None and localwheel.update_installed(site_packages(venv), derived):
                updated.append(wheel.name.split("-")[0])
                continue
            reused.append(wheel.name.split("-")[0])
            wheels.append(str(wheel))
            continue
        derived = None
        if last_slot is not None and _cached_wheel(last_slot) is not None:
            derived = _derive_wheel(Path(package), files[package], last_slot, slot)
        if derived is None:
            wheels.append(str(_build_wheel(Path(package), files[package], slot, venv)))
            continue
        name = derived.wheel.name.split("-")[0]
        if in_place and localwheel.update_installed(site_packages(venv), derived):
            updated.append(name)
        else:
            derived_names.append(name)
            wheels.append(str(derived.wheel))
    if reused:
        console.step(f"reusing built wheels of unchanged {', '.join(reused)}")
    if derived_names or updated:
        names = ", ".join(sorted(derived_names + updated))
        console.step(f"updating {names} without a build: only module files changed")
    return wheels


def _stamp(lock: Path | None, python_version: str, project_root: Path) -> dict[str, object]:
    digest = hashlib.sha256(lock.read_bytes()).hexdigest() if lock else "unlocked"
    return {"lock": digest, "python": python_version, "project": str(project_root)}


def prepare(
    *,
    project_root: Path,
    project_name: str,
    venv: Path,
    python: Path,
    python_version: str,
    force: bool,
    console: Console,
    offline: bool = False,
    find_links: str | None = None,
    target: str | None = None,
    install_project: bool = True,
    wheel_cache: Path | None = None,
) -> Path:
    """Make ``venv`` hold exactly the lock's distributions plus the project.

    With ``offline`` nothing is downloaded (see :mod:`pyrelease.offline`); ``target``
    (a triple) chooses the lock's wheels for that target instead of this machine.
    ``install_project=False`` is for a virtual workspace root, which is no
    distribution (its members come from the lock). Local packages are installed
    from wheels kept in ``wheel_cache`` (default :func:`default_wheel_cache`).
    Returns the environment's site-packages directory.
    """
    uv_executable()  # a bad PYRELEASE_INSTALLER is reported before anything is done
    lock = find_lock(project_root)
    stamp = _stamp(lock, python_version, project_root)
    stamp_file = venv / VENV_STAMP
    old = json.loads(stamp_file.read_text()) if stamp_file.exists() else {}
    fresh = force or {k: old.get(k) for k in stamp} != stamp
    removing = None
    if fresh:
        removing = _remove_aside(venv)
        _make_venv(python, venv)
    directories: list[str] = []
    if lock is None and offline:
        raise BuildError(
            f"--offline needs a lock file (pylock.toml or uv.lock) in {project_root}",
            tip="lock the project: `pip lock . -o pylock.toml` or `uv lock`",
        )
    hashed: list[LockedArtifact] = []
    if lock is not None:
        env = marker_environment(venv_python(venv))
        major_minor = env["python_version"]
        tags = target_tags(major_minor)
        if target:
            from pyrelease.nixlock import targets

            tags = targets.tags(targets.get(target), major_minor)
        artifacts = without(read_lock(lock, tags, env, target or "this target"), project_name)
        directories = [a.location for a in artifacts if a.kind == "directory"]
        hashed = [a for a in artifacts if a.kind != "directory"]
        if offline:
            from pyrelease.offline import local_files

            hashed = local_files(hashed, find_links)
    local = [project_root] if install_project else []
    local += [Path(d) for d in directories]

    def special(path: Path, kind: str) -> None:
        if in_package_folder(path, local):
            raise BuildError(
                f"{path} is a {kind} inside a package folder, and the build backend reads "
                "every file there (it would wait on it forever); remove it or move it out "
                "of the package"
            )
        console.warn(
            f"skipping the {kind} {path}: it is not a source file (keep it out of your "
            "package folders: a build backend that reads it would wait forever)"
        )

    # Before any build backend reads a local tree (see ``special``).
    files = {str(p): source_hashes(p, set(local) - {p}, special) for p in local}
    stamp["sources"] = {p: digest_of(hashes) for p, hashes in files.items()}
    if lock is None:
        console.warn(
            f"no lock file (pylock.toml or uv.lock) in {project_root}: dependencies are "
            "resolved from pyproject.toml, so this build is not reproducible; "
            "lock them with `pip lock . -o pylock.toml`"
        )
        if fresh:
            console.step("resolving and installing dependencies (no lock file)")
            _pip([str(project_root)], venv, "the project's dependencies")
    pending: list[str] = []  # installed together with the local wheels: one installer run
    if lock is not None and fresh and hashed:
        console.step(f"installing {len(hashed)} locked distributions from {lock.name}")
        pending = _hashed_lines(hashed)
        if offline:
            _install_hashed(pending, venv, offline)
            pending = []
    previous = {} if fresh else old.get("sources", {})
    changed = [str(p) for p in local if previous.get(str(p)) != stamp["sources"][str(p)]]
    if not changed:
        console.step("the build environment is up to date")
    else:
        console.step(f"installing {len(changed)} local package(s) into the build environment")
        stamp_file.unlink(missing_ok=True)  # a failed install must not look up to date
        if offline:
            _install_local_offline(changed, venv, python_version)
        else:
            wheels = _local_wheels(changed, files, stamp["sources"], old.get("sources", {}),
                                   venv, python_version, wheel_cache or default_wheel_cache(),
                                   console,
                                   in_place=not fresh)  # fmt: skip
            if pending:
                _install_hashed(pending, venv, wheels=wheels)
                pending = []
            elif wheels:
                _pip(["--no-deps", "--force-reinstall", *wheels], venv, "the project", uv=True)
    if pending:
        _install_hashed(pending, venv)
    stamp_file.write_text(json.dumps(stamp, sort_keys=True))
    if removing is not None:
        removing.join()
    return site_packages(venv)


def _remove_aside(path: Path) -> threading.Thread | None:
    """Rename ``path`` aside and remove it in a thread while the build goes on."""
    if not path.exists() and not path.is_symlink():
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
    try:
        os.rename(path, aside / path.name)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
    thread = threading.Thread(target=shutil.rmtree, args=(aside,), kwargs={"ignore_errors": True})
    thread.start()
    return thread


def _make_venv(python: Path, venv: Path) -> None:
    """``python -m venv --without-pip VENV``; in this process when ``python`` is the
    interpreter running pyrelease (the same code, one interpreter start less)."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    base = getattr(sys, "_base_executable", sys.executable)
    if os.path.realpath(python) == os.path.realpath(base):
        import venv as venv_module

        try:
            venv_module.EnvBuilder(symlinks=True, with_pip=False).create(str(venv))
        except OSError as exc:
            raise BuildError(f"creating the build environment failed: {exc}") from None
        return
    proc = subprocess.run(
        [str(python), "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise BuildError(f"creating the build environment failed: {proc.stderr.strip()}")


def _install_local_offline(dirs: list[str], venv: Path, python_version: str) -> None:
    from pyrelease.offline import build_local_wheels

    tmp, wheels = build_local_wheels(dirs, python_version)
    try:
        args = ["--no-index", "--no-deps", "--force-reinstall", *map(str, wheels)]
        _pip(args, venv, "the project", uv=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def in_package_folder(path: Path, roots: list[Path]) -> bool:
    """``path`` lies in a folder a build backend packs: one with an ``__init__.py``
    between it and its project (or local package) root, or under that root's ``src/``."""
    inside = [r for r in roots if path.is_relative_to(r)]
    if not inside:
        return False
    root = max(inside, key=lambda r: len(r.parts))  # a local package inside the project
    folder = path.parent
    while folder != root and folder.is_relative_to(root):
        if folder == root / "src" or (folder / "__init__.py").exists():
            return True
        folder = folder.parent
    return False


def _hashed_lines(artifacts: list[LockedArtifact]) -> list[str]:
    lines = []
    for a in artifacts:
        if not a.sha256:
            raise BuildError(f"the lock has no sha256 for {a.name} {a.version}; re-lock")
        lines.append(f"{a.name} @ {a.location} --hash=sha256:{a.sha256}")
    return lines


def _install_hashed(
    lines: list[str], venv: Path, offline: bool = False, wheels: list[str] = ()
) -> None:
    """Install the lock's hashed artifacts and local ``wheels`` (hashed here) in one run."""
    for wheel in wheels:
        path = Path(wheel)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        lines = [*lines, f"{path.name.split('-')[0]} @ {path.as_uri()} --hash=sha256:{digest}"]
    req = venv / "pyrelease-locked-requirements.txt"
    req.write_text("\n".join(lines) + "\n")
    no_index = ["--no-index"] if offline else []
    args = [*no_index, "--no-deps", "--require-hashes", "-r", str(req)]
    what = "the locked distributions" + (" and the project" if wheels else "")
    _pip(args, venv, what, uv=True)
