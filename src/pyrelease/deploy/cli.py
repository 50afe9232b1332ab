"""The ``release-deploy`` command line: thin commands, one error funnel.

Every option that a server sets once can come from the environment instead
(``RELEASE_DEPLOY_STORE``, ``RELEASE_DEPLOY_ROOT``...), so a systemd unit or a
CI job names it once and ``release-deploy pull`` needs no arguments.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from pyrelease import __version__
from pyrelease.deploy.errors import DeployError
from pyrelease.deploy.safetar import DEFAULT_MAX_BYTES, DEFAULT_MAX_MEMBERS
from pyrelease.deploy.store import StoreError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def say(line: str) -> None:
    """Progress and results go to stdout, one line each."""
    click.echo(line)


def _root_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--root",
        envvar="RELEASE_DEPLOY_ROOT",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="The deploy root holding releases/, shared/ and current (RELEASE_DEPLOY_ROOT).",
    )(f)


def _timeout_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout",
        type=click.FloatRange(min=1),
        default=60,
        show_default=True,
        help="Seconds the started release has to become ready.",
    )(f)


@click.group(context_settings=CONTEXT)
@click.version_option(__version__, prog_name="release-deploy")
def main() -> None:
    """Push release tarballs to a store; pull, verify and switch to them on servers.

    \b
    Stores: a folder or file:///path, http(s)://host/path (GET with Range, PUT;
    bearer token from RELEASE_DEPLOY_TOKEN), s3://bucket/prefix, github://owner/repo.
    """


@main.command()
@click.argument("tarball", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--to",
    "url",
    envvar="RELEASE_DEPLOY_STORE",
    required=True,
    help="The store URL (RELEASE_DEPLOY_STORE).",
)
@click.option(
    "--sign-key",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RELEASE_DEPLOY_SIGNING_KEY",
    help="An SSH private key: also push a detached signature (RELEASE_DEPLOY_SIGNING_KEY).",
)
def push(tarball: Path, url: str, sign_key: Path | None) -> None:  # fmt: skip
    """Publish TARBALL with its .sha256 (and .sig) and add it to the store's index.

    Pushing the same file again does nothing; a different file under a version
    that is already published is refused.
    """
    from pyrelease.deploy.push import push as do_push

    do_push(tarball, url, os.environ, say, sign_key=sign_key)


@main.command()
@click.option(
    "--from",
    "url",
    envvar="RELEASE_DEPLOY_STORE",
    required=True,
    help="The store URL (RELEASE_DEPLOY_STORE).",
)
@_root_option
@click.option(
    "--version", "version", help="The version to pull (default: the newest for this host)."
)
@click.option(
    "--name", help="The release's name (default: the one at ROOT, or the store's only one)."
)
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RELEASE_DEPLOY_ALLOWED_SIGNERS",
    help="Require a signature by a key in this ssh allowed_signers file.",
)
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many versions to keep in ROOT/releases (current and previous always stay).",
)
@click.option(
    "--max-files",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_MEMBERS,
    show_default=True,
    help="Refuse a tarball with more members.",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_BYTES,
    show_default=True,
    help="Refuse a tarball that unpacks to more bytes.",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=4,
    show_default=True,
    help="How often to resume a broken download before giving up.",
)
@click.option(
    "--skip-host-check",
    is_flag=True,
    help="Do not check shared libraries and glibc version (the triple is always checked).",
)
@click.option(
    "--start",
    "then",
    flag_value="start",
    help="Then run the release in the foreground (exec bin/NAME start).",
)
@click.option("--daemon", "then", flag_value="daemon", help="Then start it with bin/NAME daemon.")
@click.option(
    "--restart",
    "then",
    flag_value="restart",
    help="Then stop the old version and start the new one; back to the old one if it fails.",
)
@_timeout_option
def pull(url: str, root: Path, version: str | None, name: str | None,
         allowed_signers: Path | None, keep: int, max_files: int, max_bytes: int,
         retries: int, skip_host_check: bool, then: str | None,
         timeout: float) -> None:  # fmt: skip
    """Download, verify and unpack a release into ROOT/releases/VSN and make it current.

    The sha256 is always checked, the signature when --allowed-signers is given;
    the release's triple, shared libraries and glibc version are checked against
    this host; the tarball is unpacked safely. Any failure leaves ROOT/current as
    it was.
    """
    from pyrelease.deploy import service
    from pyrelease.deploy.layout import Root
    from pyrelease.deploy.pull import Pulled, PullOptions
    from pyrelease.deploy.pull import pull as do_pull
    from pyrelease.deploy.safetar import Limits

    options = PullOptions(
        url=url, root=root, version=version, name=name, allowed_signers=allowed_signers,
        limits=Limits(max_files, max_bytes), keep=keep, check_host=not skip_host_check,
        retries=retries,
    )  # fmt: skip

    def start(r: Root, pulled: Pulled) -> None:
        # Still under the root's lock; exec releases it (the lock file is close-on-exec).
        if then == "start":
            sys.stdout.flush()
            service.exec_start(r, pulled.version, os.environ)
        elif then == "daemon" or (then == "restart" and pulled.changed):
            restart = then == "restart"
            service.start_daemon(
                r, pulled.version, pulled.before, os.environ, timeout, say, restart=restart
            )
        elif then == "restart":
            say("nothing to restart")

    do_pull(options, os.environ, say, then=start if then else None)


@main.command(name="list")
@click.option(
    "--root",
    envvar="RELEASE_DEPLOY_ROOT",
    type=click.Path(file_okay=False, path_type=Path),
    help="List the versions unpacked in this deploy root (RELEASE_DEPLOY_ROOT).",
)
@click.option("--from", "url", help="List the versions in this store instead.")
@click.option("--name", help="With --from: the release (default: the store's only one).")
def list_(root: Path | None, url: str | None, name: str | None) -> None:
    """The versions in ROOT/releases, marking current and previous; or those in a store."""
    from pyrelease.deploy.layout import Root

    if url is not None:
        _list_store(url, name)
        return
    if root is None:
        raise DeployError("list needs --root ROOT (or --from URL for a store's versions)")
    r = Root(root)
    versions = r.versions()
    if not versions:
        say(f"no releases in {r.releases}")
        return
    current, previous = r.current(), r.previous()
    for version in versions:
        mark = (
            "  (current)" if version == current else "  (previous)" if version == previous else ""
        )
        say(f"{'*' if version == current else ' '} {version}{mark}")


def _list_store(url: str, name: str | None) -> None:
    from pyrelease.deploy.index import read_index
    from pyrelease.deploy.pull import resolve_name
    from pyrelease.deploy.stores import open_store

    store = open_store(url, os.environ)
    index = read_index(store, resolve_name(store, None, name))
    if not index.entries:
        say(f"no versions of {index.name} in {url}")
    for e in index.entries:
        signed = "  signed" if e.signed else ""
        say(f"{e.version}  {e.triple}  {e.size / 1e6:.1f} MB  {e.time}{signed}")


@main.command()
@_root_option
@click.option(
    "--restart", is_flag=True, help="Stop the current version and start the previous one."
)
@_timeout_option
def rollback(root: Path, restart: bool, timeout: float) -> None:
    """Make the previous version current again (and the current one previous)."""
    from pyrelease.deploy import service
    from pyrelease.deploy.layout import Root

    r = Root(root)
    if r.current() is None:
        raise DeployError(f"no release is current in {r.path}: check --root")
    with r.locked(say):
        before = (r.current(), r.previous())
        if before[1] is None:
            raise DeployError(f"{r.path} has no previous version to roll back to")
        r.switch(before[1])
        say(f"rolled back from {before[0]} to {before[1]}, now current")
        if restart:
            service.start_daemon(r, before[1], before, os.environ, timeout, say, restart=True)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--sha256", "digest", help="The expected sha256 (default: read FILE.sha256).")
@click.option(
    "--allowed-signers",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="RELEASE_DEPLOY_ALLOWED_SIGNERS",
    help="Check FILE.sig against this ssh allowed_signers file.",
)
def verify(file: Path, digest: str | None, allowed_signers: Path | None) -> None:  # fmt: skip
    """Check FILE against its checksum (FILE.sha256) and signature (FILE.sig)."""
    from pyrelease.deploy.verify import verify_file

    say(verify_file(file, digest, allowed_signers))


@main.command()
@_root_option
@click.option(
    "--keep",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="How many versions to keep (current and previous always stay).",
)
def prune(root: Path, keep: int) -> None:
    """Remove old versions from ROOT/releases, keeping the newest KEEP."""
    from pyrelease.deploy.layout import Root

    r = Root(root)
    if not r.releases.is_dir():
        raise DeployError(f"{r.path} holds no releases: check --root")
    with r.locked(say):
        removed = r.prune(keep)
    say(f"removed {', '.join(removed)}" if removed else "nothing to remove")


@main.command()
@_root_option
@click.option("--name", help="The release's name (default: the current release's).")
@click.option("--user", help="The user the service runs as (default: the release's name).")
@click.option("--group", help="Its group (default: the user).")
def unit(root: Path, name: str | None, user: str | None, group: str | None) -> None:
    """Print a systemd unit (Type=notify) that runs ROOT/current/bin/NAME start."""
    from pyrelease.deploy.layout import Root
    from pyrelease.deploy.pull import installed_name
    from pyrelease.deploy.unit import render_unit

    r = Root(root)
    name = name or installed_name(r)
    if not name:
        raise DeployError(f"no release is current in {r.path}: pull one first or pass --name")
    click.echo(render_unit(str(r.path), name, user or name, group), nl=False)


def run() -> None:
    """The console script: click's parsing, then one funnel for every expected error."""
    try:
        main.main(standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except (DeployError, StoreError) as exc:
        click.echo(f"ERROR: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        click.echo(
            f"ERROR: {exc.strerror or exc}{where}: check the path, its permissions and free space",
            err=True,
        )
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("ERROR: interrupted; nothing was switched", err=True)
        sys.exit(130)
