"""``release-deploy pull``: fetch, verify, check, unpack and switch to a release.

Every check happens before ``releases/VSN`` exists: sha256 (against the index
and the published ``.sha256``), the signature when an allowed-signers file is
configured, the safe-extraction rules over every member, and the build info
against this host. The release is unpacked into a temporary folder beside
``releases/VSN`` and renamed into place; only then does ``current`` switch.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyrelease.deploy import host
from pyrelease.deploy.artifact import build_info, parse_sha256
from pyrelease.deploy.download import RETRIES, download, fetch_small
from pyrelease.deploy.errors import DeployError, UnsafeArchive, VerifyError
from pyrelease.deploy.index import Entry, index_name, read_index
from pyrelease.deploy.layout import Root, check_version_dir
from pyrelease.deploy.safetar import Limits, safe_extract
from pyrelease.deploy.signing import verify
from pyrelease.deploy.store import NotFound, Store
from pyrelease.deploy.stores import open_store

DEFAULT_KEEP = 5


@dataclass
class PullOptions:
    """What the user asked ``pull`` for."""

    url: str
    root: Path
    version: str | None = None
    name: str | None = None
    allowed_signers: Path | None = None
    limits: Limits | None = None
    keep: int = DEFAULT_KEEP
    check_host: bool = True
    retries: int = RETRIES


@dataclass
class Pulled:
    """What ``pull`` did: the version now current, the one before, and whether it changed."""

    name: str
    version: str
    before: tuple[str | None, str | None]
    changed: bool


def installed_name(root: Root) -> str | None:
    """The name of the release ``current`` points to."""
    version = root.current()
    if version is None:
        return None
    path = root.release_dir(version) / "releases" / version / "build_info.json"
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["name"])
    except (OSError, ValueError, KeyError):
        return None


def resolve_name(store: Store, root: Root | None, name: str | None) -> str:
    """Which release to pull: ``--name``, the one already current, ROOT's folder name
    when the store has it, else the only release in the store."""
    if name:
        return name
    if root is not None:
        found = installed_name(root)
        if found:
            return found
        try:
            store.size(index_name(root.path.name))
            return root.path.name
        except NotFound:
            pass
    names = sorted(
        {n.split("/")[0] for n in store.list("") if n.count("/") == 1 and n.endswith("/index.json")}
    )
    if len(names) == 1:
        return names[0]
    if not names:
        raise DeployError(f"{store.url} holds no releases: push one first, or check the URL")
    raise DeployError(f"{store.url} holds several releases ({', '.join(names)}): pass --name NAME")


def _check_signature(
    store: Store, entry: Entry, artifact: Path, allowed: Path | None, work: Path
) -> str:
    if allowed is None:
        return "signature not checked"
    try:
        data = fetch_small(store, entry.sig_file, limit=64 * 1024)
    except NotFound:
        raise VerifyError(
            f"{entry.file} in {store.url} is not signed, but {allowed} is configured: "
            "push it with --sign-key"
        ) from None
    sig = work / "artifact.sig"
    sig.write_bytes(data)
    try:
        return f"signature ok ({verify(artifact, sig, allowed)})"
    finally:
        sig.unlink(missing_ok=True)


def _check_sha256_file(store: Store, entry: Entry) -> None:
    try:
        text = fetch_small(store, entry.sha256_file, limit=4096).decode("utf-8", "replace")
    except NotFound:
        raise VerifyError(f"{entry.sha256_file} is missing from {store.url}: push again") from None
    if parse_sha256(text, entry.sha256_file) != entry.sha256:
        raise VerifyError(
            f"{entry.sha256_file} in {store.url} disagrees with the index: the store was "
            "tampered with or half-updated; push the release again"
        )


def _check_info(
    info: dict[str, Any], entry: Entry, name: str, options: PullOptions, environ: Mapping[str, str]
) -> None:
    if info["name"] != name or info["version"] != entry.version:
        raise VerifyError(
            f"the tarball holds {info['name']} {info['version']} but the index says {name} "
            f"{entry.version}: the store is inconsistent; push the release again"
        )
    here = host.host_triple()
    if info["triple"] != here:
        raise host.HostMismatch(
            f"{name} {entry.version} was built for {info['triple']} but this host is {here}: "
            f"build it on (or for) {here}"
        )
    if options.check_host:
        host.check_build_info(info, environ)


def _unpack(root: Root, artifact: Path, version: str, limits: Limits) -> None:
    staging = root.partial_dir(version)
    try:
        safe_extract(artifact, staging, limits)
        root.link_cookie(staging)
        os.chmod(staging, 0o755)  # mkdtemp made it 0700
        staging.rename(root.release_dir(version))
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DeployError(
            f"could not unpack {version} into {root.releases} ({exc.strerror}): free some "
            "space or fix the folder's permissions"
        ) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def pull(
    options: PullOptions,
    environ: Mapping[str, str],
    say: Callable[[str], None],
    then: Callable[[Root, Pulled], None] | None = None,
) -> Pulled:
    """Bring the wanted version into ``ROOT/releases/VSN`` and make it current.

    ``then`` (starting or restarting the release) runs while the root is still
    locked, so no other ``release-deploy`` switches versions under it.
    """
    store = open_store(options.url, environ)
    root = Root(options.root)
    with root.locked(say):
        pulled = _pull_locked(options, store, root, environ, say)
        if then is not None:
            then(root, pulled)
        return pulled


def _pull_locked(
    options: PullOptions,
    store: Store,
    root: Root,
    environ: Mapping[str, str],
    say: Callable[[str], None],
) -> Pulled:
    limits = options.limits or Limits()
    root.clean_partials()
    name = resolve_name(store, root, options.name)
    index = read_index(store, name)
    entry = index.choose(host.host_triple(), options.version, store.url)
    version = check_version_dir(entry.version)
    before = (root.current(), root.previous())
    if before[0] == version:
        say(f"{name} {version} is already current in {root.path}, nothing to do")
        return Pulled(name, version, before, changed=False)
    if version in root.versions():
        root.switch(version)
        say(f"{name} {version} was already unpacked in {root.path}, now current")
        return Pulled(name, version, before, changed=True)
    artifact = download(store, entry, root.downloads, say, retries=options.retries)
    try:
        _check_sha256_file(store, entry)
        signature = _check_signature(
            store, entry, artifact, options.allowed_signers, root.downloads
        )
        try:
            info = build_info(artifact, limits)
            _check_info(info, entry, name, options, environ)
            _unpack(root, artifact, version, limits)
        except UnsafeArchive as exc:
            raise UnsafeArchive(
                f"refused {entry.file}, nothing was unpacked: {exc}; a release built by "
                "pyrelease never looks like this, so check who can write to the store"
            ) from None
    finally:
        artifact.unlink(missing_ok=True)
    root.switch(version)
    try:
        pruned = root.prune(options.keep)
    except OSError as exc:  # the new version is current; an old one could not go
        pruned = []
        say(f"warning: could not remove old versions ({exc.strerror}); try prune later")
    if pruned:
        say(f"removed old versions {', '.join(pruned)} (keeping {options.keep})")
    say(f"pulled {name} {version} ({entry.triple}), sha256 ok, {signature}, now current")
    return Pulled(name, version, before, changed=True)
