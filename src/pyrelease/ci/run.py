"""``pyrelease ci build``: build (or take) a release, publish its artifact, upload it.

The steps, in order; a failure at any of them stops the rest and leaves what
was there before:

1. check ``upload-to`` (a typo fails in a second, not after the build);
2. build the release with ``pyrelease build`` (or ``nix build .#release-NAME``,
   or take one already built);
3. write ``NAME-VSN-TRIPLE.tar.xz`` (or ``.tar.gz``, per the release's
   ``tar_format``) and its ``.sha256`` (packing the release here when its
   steps have no ``tar``);
4. push it with ``release-deploy push`` when ``upload-to`` names a store.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyrelease.ci.artifact import publish, read_build_info
from pyrelease.ci.report import Result
from pyrelease.ci.upload import destination, object_url, push
from pyrelease.console import Console
from pyrelease.deploy.index import TARBALL_SUFFIXES
from pyrelease.errors import BuildError

# Credentials for the upload (and the job's OIDC token), kept from the build.
WITHHELD = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "RELEASE_DEPLOY_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_URL",
    "ACTIONS_RUNTIME_TOKEN",
)


@dataclass(frozen=True)
class CiOptions:
    """What ``pyrelease ci build`` was asked to do (the action's inputs)."""

    project: Path
    release: str | None = None
    env: str = "prod"
    version: str | None = None
    upload_to: str = "none"
    out_dir: Path | None = None
    nix: bool = False
    nix_args: tuple[str, ...] = ()
    prebuilt: Path | None = None


def ci_build(options: CiOptions, environ: Mapping[str, str], console: Console) -> Result:
    """Run the CI build described by ``options``; return what was made and where it went."""
    where = destination(options.upload_to, environ)
    if options.version and (options.nix or options.prebuilt is not None):
        raise BuildError(
            "a version override applies to `pyrelease build` only, not to a release built "
            "by nix or elsewhere",
            tip="set the version in pyproject.toml, or build without nix",
        )
    project = options.project.resolve()
    started = time.monotonic()
    with credentials_withheld():
        fmt = "xz"
        if options.prebuilt is not None:
            source, release_dir, info = _take(options.prebuilt.resolve())
        elif options.nix:
            source, release_dir, info = _take(_nix_build(project, options, console))
        else:
            source, release_dir, info, fmt = _build(project, options, console)
    out_dir = options.out_dir or project / "_build" / options.env
    stem = f"{info['name']}-{info['version']}-{info['triple']}"
    console.step(f"writing {stem} tarball and its .sha256")
    artifact = publish(source, release_dir, info, out_dir.resolve(), fmt)
    seconds = time.monotonic() - started
    if where.kind == "store":
        assert where.store is not None
        push(artifact, where.store, environ)
        return Result(artifact, seconds, where.store, object_url(where.store, artifact, environ))
    if where.kind == "artifact":
        label = f"workflow artifact {artifact.stem}"
        return Result(artifact, seconds, label, "")
    return Result(artifact, seconds, "not uploaded", "")


@contextmanager
def credentials_withheld() -> Iterator[None]:
    """Take the upload credentials out of ``os.environ`` while the release is built.

    A build runs the project's own code (``config/config.py``, user steps, the
    build backends of local packages); none of it needs the token that uploads
    the result, so none of it gets to read it. The push gets the full environment.
    """
    saved = {k: os.environ.pop(k) for k in WITHHELD if k in os.environ}
    try:
        yield
    finally:
        os.environ.update(saved)


def _build(
    project: Path, options: CiOptions, console: Console
) -> tuple[Path | None, Path, dict, str]:
    """``pyrelease build``; the tarball of its ``tar`` step if it has one, and its format."""
    from pyrelease.build import build
    from pyrelease.release import BuildOptions

    build_options = BuildOptions(env=options.env, overwrite=True, version=options.version)
    release = build(project, options.release, build_options, console)
    info = read_build_info(release.path)
    tarball = release.tarball_path
    source = tarball if "tar" in release.spec.steps and tarball.is_file() else None
    return source, release.path, info, release.spec.tar_format


def _take(path: Path) -> tuple[Path | None, Path, dict]:
    """A release built elsewhere: its directory, a folder with its one tarball, or the tarball."""
    if path.is_dir() and (path / "releases").is_dir():
        return None, path, read_build_info(path)
    if path.is_dir():
        found = sorted(p for suffix in TARBALL_SUFFIXES for p in path.glob(f"*{suffix}"))
        if len(found) != 1:
            raise BuildError(
                f"{path} holds neither a release (releases/) nor exactly one .tar.xz or .tar.gz",
                tip="point at the release directory or its tarball",
            )
        path = found[0]
    if path.is_file():
        from pyrelease.deploy.artifact import build_info
        from pyrelease.deploy.errors import DeployError
        from pyrelease.deploy.safetar import Limits

        try:
            return path, path, build_info(path, Limits())
        except DeployError as exc:
            raise BuildError(str(exc)) from None
    raise BuildError(f"{path} does not exist", tip="pass the release directory or its tarball")


def _nix_build(project: Path, options: CiOptions, console: Console) -> Path:
    """``nix build .#release-NAME [NIX_ARGS]`` in the project; where its result is on disk."""
    from pyrelease.config import load_project, select_release

    name = options.release or select_release(load_project(project), None, env=options.env).name
    link = project / "_build" / "nix" / f"release-{name}"
    link.parent.mkdir(parents=True, exist_ok=True)
    command = ["nix", "build", f".#release-{name}", "--out-link", str(link), "--print-build-logs"]
    command += options.nix_args
    console.step(" ".join(command))
    try:
        result = subprocess.run(command, cwd=project, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise BuildError(
            "nix is not installed on this runner",
            tip="install it first (for example with cachix/install-nix-action), or set nix: false",
        ) from None
    if result.returncode != 0:
        raise BuildError(f"nix build .#release-{name} failed (exit {result.returncode})")
    out = Path(os.readlink(link))
    root = chroot_store(options.nix_args)
    found = root / out.relative_to("/") if root is not None else out
    if not found.exists():
        raise BuildError(
            f"nix built .#release-{name} as {out}, which is not on this machine's disk",
            tip="build into the local store, or into a store given as --store DIR in nix-args",
        )
    return found


def chroot_store(nix_args: tuple[str, ...]) -> Path | None:
    """The directory of a store given as ``--store DIR`` or ``--store local?root=DIR``.

    Such a store keeps ``/nix/store/X`` at ``DIR/nix/store/X`` (how Nix runs
    without root); None for the default store or a daemon's.
    """
    value = None
    for i, arg in enumerate(nix_args):
        if arg == "--store" and i + 1 < len(nix_args):
            value = nix_args[i + 1]
        elif arg.startswith("--store="):
            value = arg.removeprefix("--store=")
    if value is None:
        return None
    if value.startswith("/"):
        return Path(value)
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(value)
    if parts.scheme in ("local", "") and "root" in parse_qs(parts.query):
        return Path(parse_qs(parts.query)["root"][0])
    return None
