"""``release-deploy push``: put a release tarball, its checksum and signature into a store."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pyrelease.deploy.artifact import build_info, sha256_file, sha256_line
from pyrelease.deploy.errors import DeployError
from pyrelease.deploy.index import Entry, artifact_name, index_name, read_index, tarball_suffix
from pyrelease.deploy.safetar import Limits
from pyrelease.deploy.signing import sign
from pyrelease.deploy.store import Store
from pyrelease.deploy.stores import open_store


def push(
    tarball: Path,
    url: str,
    environ: Mapping[str, str],
    say: Callable[[str], None],
    sign_key: Path | None = None,
) -> bool:
    """Publish ``tarball`` in the store at ``url``; False when it was already there.

    Idempotent: the same artifact again is a no-op; a different artifact under a
    version already published is refused (a version names one artifact forever).
    The index is written last, so it never lists an artifact that is not there.

    Concurrent pushes: a store that can lock (a folder) is held locked from the
    first read of the index to its write (its ``pushing`` context). Other stores
    re-read the index just before writing it and add this entry to what is there
    then, so a push that finished meanwhile is kept; only a push that writes the
    index in that short moment can still be lost (see docs/deploy.md).
    """
    if not tarball.is_file():
        raise DeployError(f"{tarball} does not exist: pass the path of a release tarball")
    info = build_info(tarball, Limits())
    store = open_store(url, environ)
    pushing = getattr(store, "pushing", None)
    with pushing(say) if pushing is not None else contextlib.nullcontext():
        return _push(store, tarball, info, url, say, sign_key)


def _conflict(url: str, label: str, theirs: str, ours: str) -> DeployError:
    return DeployError(
        f"{url} already holds a different {label} (sha256 {theirs[:12]}…, "
        f"this file {ours[:12]}…): give the new build a new version; a published "
        "version is never replaced"
    )


def _push(
    store: Store,
    tarball: Path,
    info: dict,  # type: ignore[type-arg]
    url: str,
    say: Callable[[str], None],
    sign_key: Path | None,
) -> bool:
    name, version, triple = info["name"], info["version"], info["triple"]
    label = f"{name} {version} ({triple})"
    digest = sha256_file(tarball)
    index = read_index(store, name)
    existing = index.find(version, triple)
    if existing is not None:
        if existing.sha256 == digest:
            say(f"{label} is already in {url} with the same sha256, nothing to do")
            return False
        raise _conflict(url, label, existing.sha256, digest)
    remote = artifact_name(name, version, triple, tarball_suffix(tarball.name) or ".tar.gz")
    sent = [tarball.name, ".sha256"]
    with tempfile.TemporaryDirectory(prefix="release-deploy-") as tmp:
        sums = Path(tmp) / "sha256"
        sums.write_text(sha256_line(digest, remote.rsplit("/", 1)[-1]), encoding="utf-8")
        sig = sign(tarball, sign_key, Path(tmp) / "sig") if sign_key is not None else None
        say(f"uploading {tarball.name} to {url}")
        store.put(remote, tarball)
        store.put(remote + ".sha256", sums)
        if sig is not None:
            store.put(remote + ".sig", sig)
            sent.append(".sig")
        # Another push may have written the index while this one uploaded: add
        # this entry to the index as it is now, not as it was.
        index = read_index(store, name)
        raced = index.find(version, triple)
        if raced is not None and raced.sha256 != digest:
            raise DeployError(
                f"another push published a different {name} {version} ({triple}) to {url} "
                f"while this one was uploading (sha256 {raced.sha256[:12]}…, this file "
                f"{digest[:12]}…), so the index was left as that push wrote it: pull will "
                "refuse that version if the stored file is now this one; push the new build "
                "under a new version"
            )
        index.add(
            Entry(
                version=version,
                triple=triple,
                file=remote,
                sha256=digest,
                size=tarball.stat().st_size,
                time=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                signed=sig is not None,
            )
        )
        index_file = Path(tmp) / "index.json"
        index_file.write_bytes(index.to_json())
        store.put(index_name(name), index_file)
    say(f"pushed {label}: {', '.join(sent)}, index updated")
    return True
