"""``pyrelease build``: from ``pyproject.toml`` to an assembled release.

config → ``Release`` → compile step (build environment) → application closure
and modes → build-time configuration → steps (user steps, assemble, tar).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyrelease import uptodate
from pyrelease.config import load_project, select_release
from pyrelease.console import Console
from pyrelease.errors import BuildError, ConfigError, PyreleaseError
from pyrelease.node import appconfig
from pyrelease.overlays import check_overlays
from pyrelease.release import BuildOptions, Release, check_file_names, from_spec
from pyrelease.sources import find_lock
from pyrelease.startcheck import check_runtime_config

# Assembly, the build environment and packaging are imported where they are used:
# a build that finds its release up to date needs none of them.


def build(root: Path, name: str | None, options: BuildOptions, console: Console) -> Release:
    """Build release ``name`` of the project at ``root``; return the finished ``Release``."""
    from pyrelease.offline import check_options

    check_options(options.offline, options.find_links, options.target)
    project = load_project(root)
    spec = select_release(project, name, env=options.env)
    if spec.quiet:
        console.quiet = True
    if options.include_runtime is not None:
        from dataclasses import replace

        runtime = options.include_runtime
        spec = replace(spec, include_runtime=False if runtime == "false" else runtime)
    release = from_spec(project, spec, options, console)
    if not release.version and spec.version_from and project.workspace is not None:
        # `version = { from_dist = "MEMBER" }` at a virtual root: known before installing.
        member = project.workspace.members.get(spec.version_from)
        release.version = member.version if member is not None else ""
    # Said before anything is built; assemble checks again what steps may change.
    check_file_names(release.name, release.version)
    check_overlays(release)
    release.config, release.compile_env = build_time_config(release)
    tracked = uptodate.trackable(release)
    inputs = uptodate.inputs_digest(release) if tracked else ""
    before = uptodate.watch_before(release) if tracked else {}
    last = uptodate.up_to_date(release, inputs) if tracked and not options.force else None
    if last is not None:
        release.path = Path(last["path"])
        print_how_to_start(
            release,
            f"Release {last['release']} is up to date at {release.relative(release.path)}: "
            "nothing it is built from has changed (pass --force to rebuild it)",
        )
        return release
    confirm_overwrite(release)
    from pyrelease.assemble.fsutil import remove_replaced, wait_for_removals

    remove_replaced(release.path)  # what the last build left aside, meanwhile
    try:
        return _build(release, tracked, inputs, before)
    finally:
        wait_for_removals()  # normally done long before (assemble waits for it)


def _build(release: Release, tracked: bool, inputs: str, before: dict) -> Release:
    """The build proper, once it is known that the release must be built again."""
    release.python = target_python(release)
    check_python_version(release)
    check_runtime_config(release)
    release.runtime_prefetch = _prefetch_runtime(release)
    try:
        prepare(release)
        check_file_names(release.name, release.version)  # version = { from_dist = ... }
        user_steps = [s for s in release.steps if s not in ("assemble", "tar")]
        uptodate.forget(release)
        from pyrelease import steps
        from pyrelease.assemble import assemble, tar

        release = steps.run(release, {"assemble": assemble, "tar": tar})
    finally:
        if release.runtime_prefetch is not None:
            release.runtime_prefetch.discard()
            release.runtime_prefetch = None
    if tracked:
        uptodate.record(release, inputs, before, user_steps)
    print_how_to_start(release)
    return release


def _prefetch_runtime(release: Release):  # -> Prefetch | None
    """Copy the cached runtime while the build environment is prepared (in a thread)."""
    spec = release.spec
    if spec.include_runtime is False or sys.platform != "linux":
        return None
    from pyrelease.assemble.runtime.reuse import may_link

    steps = release.steps
    linking = "assemble" in steps and may_link(steps[steps.index("assemble") + 1 :])
    if linking and release.path.is_dir() and any(release.path.glob("runtime-*")):
        return None  # a rebuild: assemble links the previous release's runtime files
    from pyrelease.assemble.runtime.bundle import prefetch_runtime

    sources = not spec.strip.enabled or "sources" in spec.strip.keep
    return prefetch_runtime(release.python, release.build_dir, sources=sources)


def confirm_overwrite(release: Release) -> None:
    """Ask before replacing an existing release; refuse when nobody can answer."""
    if release.options.overwrite or not release.path.exists():
        return
    question = f"Release {release.name}-{release.version} already exists. Overwrite?"
    if not release.console.interactive:
        raise PyreleaseError(
            f"release {release.name}-{release.version} already exists at "
            f"{release.relative(release.path)}",
            tip="pass --overwrite to replace it",
        )
    if not release.console.confirm(question):
        raise PyreleaseError("build cancelled: the existing release was kept")


def target_python(release: Release):  # -> PythonInstall
    """The Python the release runs on: ``include_runtime = "PATH"`` or the one running us."""
    from pyrelease.assemble.runtime import current_python, inspect_python

    runtime = release.spec.include_runtime
    if isinstance(runtime, str):
        return inspect_python(Path(runtime))
    return current_python()


def check_python_version(release: Release) -> None:
    """The project's ``requires-python`` (and its workspace members') must admit the target."""
    if not release.options.python_version_check:
        return
    from packaging.specifiers import InvalidSpecifier, SpecifierSet

    wanted = [("the project", _read_requires_python(release.project.root))]
    if release.project.workspace is not None:  # uv locks a workspace for all its members
        wanted += [
            (f"workspace member {name}", _read_requires_python(member.path))
            for name, member in release.project.workspace.members.items()
        ]
    for who, text in wanted:
        if not text:
            continue
        try:
            spec = SpecifierSet(text)
        except InvalidSpecifier:
            raise ConfigError([f"requires-python {text!r} is not a valid specifier"]) from None
        if release.python.version not in spec:
            raise BuildError(
                f"{who} requires Python {text} but the release would run on "
                f"Python {release.python.version}",
                tip="set include_runtime to a matching Python, or pass --no-python-version-check",
            )


def _read_requires_python(root: Path) -> str | None:
    import tomllib

    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return data.get("project", {}).get("requires-python")


def prepare(release: Release) -> None:
    """The compile step, then the application closure and modes."""
    from packaging.utils import canonicalize_name

    from pyrelease import buildenv, distributions

    venv = release.build_dir / "venv"
    ws = release.project.workspace
    if ws is not None and release.options.compile and find_lock(release.project.root) is None:
        raise BuildError(
            f"the uv workspace at {ws.root} has no uv.lock, so its members cannot be installed",
            tip=f"run `uv lock` in {ws.root}",
        )
    if release.options.compile:
        release.site_packages = buildenv.prepare(
            project_root=release.project.root,
            project_name=release.project.name,
            venv=venv,
            python=release.python.executable,
            python_version=release.python.version,
            force=release.options.force,
            console=release.console,
            offline=release.options.offline,
            find_links=release.options.find_links,
            target=release.options.target,
            install_project=not release.project.virtual,
        )
    else:
        if not venv.exists():
            raise BuildError(
                f"--no-compile needs an existing build environment, and {venv} does not exist",
                tip="build once without --no-compile",
            )
        release.site_packages = buildenv.site_packages(venv)
    installed = distributions.read_installed(release.site_packages)
    release.local_names = buildenv.local_names(venv) | {canonicalize_name(release.project.name)}
    roots = [name for name, _ in release.applications.items()]
    project_key = canonicalize_name(release.project.name)
    # At a workspace root a release holds exactly the members it names (and what they need).
    if not release.project.workspace_root and project_key not in map(canonicalize_name, roots):
        roots.insert(0, project_key)
    env = buildenv.marker_environment(buildenv.venv_python(venv))
    dists = distributions.closure(installed, roots, env, check_versions=release.options.deps_check)
    distributions.assign_modes(
        dists,
        {canonicalize_name(k): v for k, v in release.applications.items()},
        {canonicalize_name(s) for s in release.spec.skip_mode_validation_for},
    )
    members = release.project.workspace.members if release.project.workspace else {}
    for dist in dists:
        if dist.name == project_key and release.project.mod:
            dist.start = release.project.mod
        elif dist.name in members and members[dist.name].mod:
            dist.start = members[dist.name].mod  # a member's own [tool.pyrelease] mod
    release.distributions = dists
    if release.spec.version_from and not release.options.version:
        key = canonicalize_name(release.spec.version_from)
        if key not in installed:
            raise ConfigError(
                [f"release {release.name}: version from {key}, which is not installed"]
            )
        release.version = installed[key].version


def build_time_config(release: Release) -> tuple[dict, list[dict]]:
    """Evaluate ``config/config.py`` (if any) for the build environment."""
    path = release.project.root / "config" / "config.py"
    if not path.is_file():
        return {}, []
    appconfig.take_compile_env_reads()
    saved = os.getcwd()
    os.chdir(release.project.root)
    try:
        values = appconfig.evaluate_file(str(path), env=release.env)
    except appconfig.ConfigFileError as exc:
        raise BuildError(str(exc)) from None
    except Exception as exc:
        from pyrelease.node.configload import describe_error

        raise BuildError(describe_error(exc, str(path), "config/config.py")) from exc
    finally:
        os.chdir(saved)
    return values, appconfig.take_compile_env_reads()


def print_how_to_start(release: Release, headline: str | None = None) -> None:
    """The closing block, as ``mix release`` prints it."""
    c = release.console
    rel = release.relative(release.path)
    script = f"{rel}/bin/{release.name}"
    c.info()
    c.info(headline or f"Release created at {rel}")
    c.info()
    c.info("    # To start your system")
    c.info(f"    {script} start")
    c.info()
    c.info("Once the release is running:")
    c.info()
    c.info("    # To connect to it remotely")
    c.info(f"    {script} remote")
    c.info()
    c.info("    # To stop it gracefully (you may also send SIGINT/SIGTERM)")
    c.info(f"    {script} stop")
    c.info()
    c.info("To list all commands:")
    c.info()
    c.info(f"    {script}")
