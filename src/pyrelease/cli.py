"""The ``pyrelease`` command line: thin commands, one error funnel."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pyrelease import __version__, funnel
from pyrelease.ci.cli import ci
from pyrelease.console import Console
from pyrelease.errors import PyreleaseError
from pyrelease.release import BuildOptions

project_option = click.option(
    "--project",
    "-C",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="The project directory (default: the current one).",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pyrelease")
def main() -> None:
    """Assemble self-contained, reproducible releases of Python services.

    A release holds the Python runtime, your application and its dependencies,
    precompiled, and a bin/NAME script to start and manage it.
    """


@main.command()
@click.argument("name", required=False)
@click.option(
    "--env",
    "env",
    envvar="PYRELEASE_ENV",
    default="prod",
    show_default=True,
    help="Build environment (PYRELEASE_ENV): selects config/ENV.py and _build/ENV.",
)
@click.option("--path", help="Where to put the release (default _build/ENV/rel/NAME).")
@click.option(
    "--version",
    "version",
    help="The release version, a PEP 440 version such as 1.2.3 (default: the project's).",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing release without asking.")
@click.option(
    "--force",
    is_flag=True,
    help="Rebuild even when the release is up to date, recreating the build environment.",
)
@click.option("--quiet", is_flag=True, help="Print no progress, only errors and warnings.")
@click.option(
    "--no-compile", is_flag=True, help="Use the build environment as it is (no install step)."
)
@click.option(
    "--no-deps-check",
    is_flag=True,
    help="Do not check that installed distributions satisfy their requirements.",
)
@click.option(
    "--no-python-version-check",
    is_flag=True,
    help="Do not check the target Python against requires-python.",
)
@click.option(
    "--offline",
    is_flag=True,
    help="Install only from local files: the lock's files from --find-links, local "
    "packages built with the build backends installed beside pyrelease. Fails naming "
    "any file that is missing.",
)
@click.option(
    "--find-links",
    "find_links",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --offline: the directory holding the lock's wheels and sdists, by file name.",
)
@click.option(
    "--target",
    "target",
    metavar="TRIPLE",
    help="The target triple the release is for (e.g. x86_64-unknown-linux-gnu): wheels are "
    "chosen for it and it is recorded in releases/VSN/build_info.json.",
)
@click.option(
    "--include-runtime",
    "include_runtime",
    metavar="PATH|false",
    help="Override include_runtime: bundle the Python installation at PATH, or 'false'.",
)
@project_option
def build(
    name: str | None,
    env: str,
    path: str | None,
    version: str | None,
    overwrite: bool,
    force: bool,
    quiet: bool,
    no_compile: bool,
    no_deps_check: bool,
    no_python_version_check: bool,
    offline: bool,
    find_links: Path | None,
    target: str | None,
    include_runtime: str | None,
    project: Path,
) -> None:
    """Assemble the release NAME (or the default one) of this project.

    Releases are configured in pyproject.toml under [tool.pyrelease.releases.NAME].
    When nothing the release is built from has changed since the last build (lock,
    sources, config/, rel/, options, build-time configuration, pyrelease itself) and
    the release on disk is as that build left it, the build reports it up to date
    and writes nothing.
    """
    from pyrelease.build import build as run_build

    options = BuildOptions(
        env=env,
        overwrite=overwrite,
        force=force,
        quiet=quiet,
        compile=not no_compile,
        deps_check=not no_deps_check,
        python_version_check=not no_python_version_check,
        path=path,
        version=version,
        offline=offline,
        find_links=str(find_links.resolve()) if find_links else None,
        target=target,
        include_runtime=include_runtime,
    )
    _run(lambda: run_build(project.resolve(), name, options, Console(quiet=quiet)))


@main.command()
@click.option("--force", is_flag=True, help="Overwrite existing files in rel/.")
@project_option
def init(force: bool, project: Path) -> None:
    """Write editable rel/ templates: env.sh.j2, env.bat.j2, vm.args.j2, remote.vm.args.j2.

    They are the very files pyrelease uses by default; edit them and every
    following build uses yours.
    """
    from pyrelease.initcmd import write_templates

    _run(lambda: write_templates(project.resolve(), force=force, console=Console()))


@main.command("nix-lock")
@click.option(
    "--target",
    "targets",
    metavar="TRIPLE",
    multiple=True,
    help="A target triple to lock for (repeat it); default: every triple the flake builds.",
)
@click.option(
    "--python-version",
    "python_version",
    metavar="X.Y.Z",
    help="The Python the release runs on (default: the one running pyrelease).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write (default: pyrelease.lock.json in the project).",
)
@project_option
def nix_lock(
    targets: tuple[str, ...], python_version: str | None, output: Path | None, project: Path
) -> None:
    """Write pyrelease.lock.json, the lock the Nix flake builds from.

    For every target triple, it names the exact file (wheel or sdist) of every
    distribution of pylock.toml or uv.lock: name, version, file name, URL and sha256.
    Wheels are chosen with the target's platform rules (manylinux, musllinux, macOS),
    Python version and ABI. Run it again whenever the lock changes.
    """
    from pyrelease.nixlock import TARGETS, write_nix_lock

    def action() -> None:
        import platform

        version = python_version or platform.python_version()
        out = write_nix_lock(project.resolve(), targets, version, output)
        names = ", ".join(targets or TARGETS)
        click.echo(f"* wrote {os.path.relpath(out)} for Python {version}: {names}")

    _run(action)


def _run(action) -> None:
    funnel.run(
        action,
        _show_error,
        "pyrelease failed unexpectedly; this is a bug, please report it with the traceback above",
    )


def _show_error(exc: PyreleaseError) -> None:
    click.echo(f"ERROR: {exc.message}", err=True)
    if exc.tip:
        click.echo(f"TIP: {exc.tip}", err=True)


# `pyrelease ci ...`: the commands the GitHub Action runs, in their own subpackage.
main.add_command(ci)


def run() -> None:
    """The ``pyrelease`` command: :func:`main`, then leave without tearing the
    interpreter down (freeing every object of a few hundred modules took about
    40 ms of CPU of a 0.3 s rebuild). ``atexit`` functions run, other threads are
    waited for and the output is flushed first, as a normal exit does."""
    import atexit
    import sys
    import threading

    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if code is None:
        code = 0
    elif not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = code or 120  # what the interpreter reports when it cannot flush at exit
    os._exit(code)
