"""``pyrelease ci``: the commands the GitHub Action runs (usable in any CI)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from pyrelease.errors import PyreleaseError


@click.group()
def ci() -> None:
    """Build and publish a release in CI (what the GitHub Action runs).

    On GitHub Actions the results go to the step's outputs (GITHUB_OUTPUT), the
    job summary (GITHUB_STEP_SUMMARY) and error annotations on pyproject.toml;
    anywhere else they are printed as plain text.
    """


@ci.command()
@click.argument("name", required=False)
@click.option(
    "--env",
    "env",
    envvar="PYRELEASE_ENV",
    default="prod",
    show_default=True,
    help="Build environment (PYRELEASE_ENV).",
)
@click.option("--version", "version", help="Override the release version.")
@click.option(
    "--upload-to",
    default="none",
    show_default=True,
    help="artifact, github-release, none, or a store URL (s3://, https://, file://, github://) "
    "to push to with release-deploy push.",
)
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write NAME-VSN-TRIPLE.tar.xz (or .tar.gz) and its .sha256 (default _build/ENV).",
)
@click.option(
    "--nix",
    type=click.BOOL,
    default=False,
    metavar="true|false",
    help="true: build with `nix build .#release-NAME` instead of pyrelease.",
)
@click.option(
    "--nix-args",
    default="",
    metavar="ARGS",
    help="With --nix true: more arguments for `nix build`, split as a shell would "
    '(for example "--override-input nixpkgs github:NixOS/nixpkgs/nixos-24.11").',
)
@click.option(
    "--prebuilt",
    type=click.Path(path_type=Path),
    help="Do not build: publish this release directory or tarball.",
)
@click.option("--quiet", is_flag=True, help="Print no build progress, only the result.")
@click.option(
    "--project",
    "-C",
    "project",
    type=click.Path(file_okay=False, path_type=Path),
    default=".",
    help="The project directory (default: the current one).",
)
def build(
    name: str | None,
    env: str,
    version: str | None,
    upload_to: str,
    out_dir: Path | None,
    nix: bool,
    nix_args: str,
    prebuilt: Path | None,
    quiet: bool,
    project: Path,
) -> None:
    """Build release NAME, write NAME-VSN-TRIPLE.tar.xz (or .tar.gz) and its .sha256, upload them.

    An empty NAME or --version is the same as none given, so a workflow can pass
    its inputs through unchanged.

    \b
    Outputs (GITHUB_OUTPUT): artifact, sha256, sha256-file, version, target,
    name, artifact-name, url.
    """
    from pyrelease import funnel
    from pyrelease.ci import github
    from pyrelease.ci.report import report_error, report_result
    from pyrelease.ci.run import CiOptions, ci_build
    from pyrelease.console import Console

    runner = github.Runner.from_environ(os.environ)
    options = CiOptions(
        project=project,
        release=name or None,
        env=env,
        version=version or None,
        upload_to=upload_to,
        out_dir=out_dir,
        nix=nix,
        nix_args=tuple(_split(nix_args)),
        prebuilt=prebuilt,
    )
    console = Console(quiet=quiet, interactive=False)

    def build() -> object:
        if nix_args.strip() and not nix:
            raise PyreleaseError(
                "nix-args is given but nix is false",
                tip="set nix: true to build with nix, or leave nix-args empty",
            )
        return ci_build(options, dict(os.environ), console)

    def on_error(exc: PyreleaseError) -> None:
        report_error(
            exc,
            project.resolve(),
            name or None,
            runner,
            click.echo,
            lambda s: click.echo(s, err=True),
        )

    def on_bug(message: str) -> None:
        if runner.on_github:
            click.echo(github.annotation("error", message, title="pyrelease"))

    result = funnel.run(
        build,
        on_error,
        "pyrelease ci build failed unexpectedly; this is a bug, please report it "
        "with the traceback in the log",
        on_bug,
    )
    report_result(result, runner, click.echo)


def _split(text: str) -> list[str]:
    """``text`` split into words as a shell would; a bad quote is a usage error."""
    import shlex

    try:
        return shlex.split(text)
    except ValueError as exc:
        raise click.BadParameter(f"{exc} in {text!r}", param_hint="--nix-args") from None
