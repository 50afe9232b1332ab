"""GitHub Releases as a store: ``github://OWNER/REPO``.

Objects map to release assets::

    NAME/VSN/FILE      asset FILE of the release tagged NAME-VSN
    NAME/index.json    asset index.json of the release tagged NAME-index

The index has a release of its own so that it can be replaced on every push
without touching a version's release; that release is never marked "latest".
A missing release is created on ``put`` (its tag made from ``GITHUB_SHA`` when
set, as in GitHub Actions, else from the default branch). GitHub cannot
overwrite an asset, so replacing one uploads the new file under a temporary
name and swaps the two by renaming: a failed upload or rename leaves the old
asset in place.

Settings come from the ``environ`` mapping: ``GITHUB_TOKEN`` (needed to push,
and to read a private repository), ``GITHUB_API_URL`` (default
``https://api.github.com``; GitHub Actions sets it, and on GitHub Enterprise
it is ``https://HOST/api/v3``).
"""

from __future__ import annotations

import contextlib
import json
import re
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from packaging.version import InvalidVersion, Version

from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores.sessions import (
    TIMEOUT,
    connection_reason,
    error_body,
    make_session,
    stream_body,
)

API = "https://api.github.com"
INDEX = "index"
_REPO = re.compile(r"[A-Za-z0-9_.-]+")

Json = dict[str, Any]


class GitHubStore:
    """A store in the releases of one GitHub repository (see the module docstring)."""

    def __init__(self, url: str, environ: Mapping[str, str], *, per_page: int = 100) -> None:
        self.url = url
        parts = urlsplit(url)
        path = parts.path.strip("/")
        if (
            parts.scheme != "github"
            or not _REPO.fullmatch(parts.netloc)
            or not _REPO.fullmatch(path)
            or parts.query
        ):
            raise StoreError(f"{url} is not a GitHub store URL: write it as github://OWNER/REPO")
        self.repo = f"{parts.netloc}/{path}"
        self.api_from_env = bool(environ.get("GITHUB_API_URL"))
        self.api = (environ.get("GITHUB_API_URL") or API).rstrip("/")
        self.token = environ.get("GITHUB_TOKEN") or None
        self.commit = environ.get("GITHUB_SHA") or None
        self.per_page = per_page
        self._session = make_session({"GET", "PATCH", "DELETE"})
        self._session.headers.update(
            {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}
        )
        if self.token:
            self._session.headers["Authorization"] = f"Bearer {self.token}"
        self._repo_seen = False
        # Release and asset lists by tag, for the life of this store (one
        # command); a put or delete forgets the tag it changed.
        self._known: dict[str, tuple[Json | None, list[Json]]] = {}

    # -- the Store interface ------------------------------------------------

    def list(self, prefix: str) -> list[str]:
        """Names of the uploaded assets whose object name starts with ``prefix``."""
        head, _, rest = prefix.partition("/")
        if "/" in rest:  # NAME/VSN/...: one release
            release, assets = self._lookup(_tag(head, rest.split("/", 1)[0]))
            found = [] if release is None else self._names(release, head, assets)
        else:
            found = [
                name
                for release in self._releases()
                for name in self._names(release, head if "/" in prefix else None, release["assets"])
            ]
        return sorted(n for n in found if n.startswith(prefix))

    @contextlib.contextmanager
    def pushing(self, say: Callable[[str], None]) -> Iterator[None]:
        """Around a push: refuse one without a token before any request."""
        self._need_token("push to")
        yield

    def size(self, name: str) -> int:
        """The asset's size as the release lists it."""
        return int(self._find(name)["size"])

    def get(self, name: str, start: int = 0) -> Iterator[bytes]:
        """Download the asset from ``start``, following GitHub's redirect to its storage."""
        asset = self._find(name)
        headers = {"Accept": "application/octet-stream"}
        if start:
            if start > asset["size"]:
                raise StoreError(
                    f"{name} in {self.url} has {asset['size']} bytes, fewer than the {start} "
                    "already downloaded: delete the partial download and fetch it again"
                )
            if start == asset["size"]:
                return iter(())
            headers["Range"] = f"bytes={start}-"
        resp = self._call("GET", asset["url"], name, headers=headers, stream=True, ok=(200, 206))
        skip = start if resp.status_code == 200 else 0
        return stream_body(resp, self.url, name, start, skip)

    def put(self, name: str, path: Path) -> None:
        """Upload ``path`` as the asset, creating the release if needed."""
        tag, file = _locate(name)
        self._need_token("push to")
        release, assets = self._lookup(tag)
        self._known.pop(tag, None)
        if release is None:
            release, assets = self._create_release(tag), []
        temporary = re.compile(re.escape(file) + r"\.[0-9a-f]{8}\.part")
        for stale in assets:  # left by an earlier push that died mid-swap
            if temporary.fullmatch(stale["name"]):
                self._delete_asset(stale, name, quiet=True)
        old = next((a for a in assets if a["name"] == file), None)
        if old is not None and old["state"] != "uploaded":  # a broken earlier upload
            self._delete_asset(old, name)
            old = None
        if old is None:
            self._upload(release, file, path, name)
        else:
            self._replace(release, old, file, path, name)

    def _replace(self, release: Json, old: Json, file: str, path: Path, name: str) -> None:
        """Swap in a new asset by renames, so that a failure leaves the old one in place.

        GitHub cannot overwrite an asset: upload as FILE.XXXXXXXX.part, rename
        the old one aside, rename the new one to FILE, then delete the old.
        """
        new = self._upload(release, f"{file}.{secrets.token_hex(4)}.part", path, name)
        aside = f"{file}.{secrets.token_hex(4)}.part"
        try:
            self._rename(old, aside, name)
        except BaseException:
            self._delete_asset(new, name, quiet=True)
            raise
        try:
            self._rename(new, file, name)
        except BaseException:
            try:
                self._rename(old, file, name)
            finally:
                self._delete_asset(new, name, quiet=True)
            raise
        self._delete_asset(old, name, quiet=True)

    def delete(self, name: str) -> None:
        """Delete the asset (the release stays); absent assets are not an error."""
        tag, file = _locate(name)
        self._need_token("delete from")
        _, assets = self._lookup(tag)
        self._known.pop(tag, None)
        for asset in assets:
            if asset["name"] == file:
                self._delete_asset(asset, name)

    # -- releases and assets ----------------------------------------------

    def _releases(self) -> Iterator[Json]:
        self._check_repo_once()
        first = f"{self.api}/repos/{self.repo}/releases?per_page={self.per_page}"
        for page in self._pages(first, "the list of releases"):
            yield from (r for r in page if not r.get("draft"))

    def _lookup(self, tag: str) -> tuple[Json | None, list[Json]]:
        """The release tagged ``tag`` (None if absent) and its assets."""
        if tag not in self._known:
            release = self._release(tag)
            self._known[tag] = (release, [] if release is None else self._assets(release))
        return self._known[tag]

    def _release(self, tag: str) -> Json | None:
        url = f"{self.api}/repos/{self.repo}/releases/tags/{quote(tag, safe='')}"
        resp = self._call("GET", url, f"the release {tag}", ok=(200, 404))
        if resp.status_code == 404:
            self._check_repo_once()
            return None
        return resp.json()

    def _create_release(self, tag: str) -> Json:
        body: Json = {"tag_name": tag, "name": tag, "draft": False, "prerelease": False}
        if tag.endswith(f"-{INDEX}"):
            body["make_latest"] = "false"
            body["body"] = "Index of the versions of this release, kept by release-deploy."
        elif self.commit:
            body["target_commitish"] = self.commit
        url = f"{self.api}/repos/{self.repo}/releases"
        resp = self._call("POST", url, f"the release {tag}", json=body, ok=(201, 422))
        if resp.status_code == 422:  # another push created it meanwhile
            release = self._release(tag)
            if release is None:
                raise self._error(resp, f"the release {tag}", resp.content)
            return release
        return resp.json()

    def _assets(self, release: Json) -> list[Json]:
        first = f"{release['assets_url']}?per_page={self.per_page}"
        pages = self._pages(first, f"the assets of {release['tag_name']}")
        return [asset for page in pages for asset in page]

    def _pages(self, url: str, what: str) -> Iterator[list[Json]]:
        """The pages of a list, following ``Link: <…>; rel="next"`` as GitHub paginates."""
        seen = {url}
        while True:
            resp = self._call("GET", url, what)
            yield resp.json()
            url = resp.links.get("next", {}).get("url")
            if not url:
                return
            if url in seen:
                raise StoreError(f"GitHub repeats a page of {what} in {self.url}: try again")
            seen.add(url)

    def _find(self, name: str) -> Json:
        tag, file = _locate(name)
        for asset in self._lookup(tag)[1]:
            if asset["name"] == file and asset["state"] == "uploaded":
                return asset
        raise NotFound(f"{name} is not in {self.url}: check the name, or push it first")

    def _names(self, release: Json, name: str | None, assets: list[Json]) -> list[str]:
        """Object names of a release's uploaded assets (none if its tag is not ours)."""
        folder = _folder(release["tag_name"], name)
        if folder is None:
            return []
        return [f"{folder}/{a['name']}" for a in assets if a["state"] == "uploaded"]

    def _upload(self, release: Json, file: str, path: Path, name: str) -> Json:
        url = release["upload_url"].split("{", 1)[0]
        size = path.stat().st_size
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        with path.open("rb") as body:
            resp = self._call(
                "POST", url, name, params={"name": file}, headers=headers, data=body, ok=(201,)
            )
        return resp.json()

    def _rename(self, asset: Json, to: str, name: str) -> None:
        self._call("PATCH", asset["url"], name, json={"name": to})

    def _delete_asset(self, asset: Json, name: str, *, quiet: bool = False) -> None:
        try:
            self._call("DELETE", asset["url"], name, ok=(204, 404))
        except StoreError:
            if not quiet:
                raise

    # -- HTTP ---------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        what: str,
        *,
        ok: tuple[int, ...] = (200,),
        stream: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request; raise the error its answer means unless its status is ``ok``."""
        try:
            resp = self._session.request(method, url, timeout=TIMEOUT, stream=True, **kwargs)
            if resp.status_code in ok:
                if not stream:
                    resp.content  # noqa: B018 - read the whole (small) answer now
                return resp
            body = error_body(resp)
        except requests.ConnectionError as exc:
            fix = "the network and GITHUB_API_URL" if self.api_from_env else "the network"
            host = urlsplit(url).netloc
            raise StoreError(
                f"cannot reach {host} for {self.url} ({connection_reason(exc)}): check {fix}"
            ) from None
        except requests.RequestException as exc:
            raise StoreError(
                f"{urlsplit(url).netloc} did not answer for {self.url} ({type(exc).__name__}): "
                "check the network and try again"
            ) from None
        raise self._error(resp, what, body)

    def _error(self, resp: requests.Response, what: str, body: bytes = b"") -> StoreError:
        """One sentence for a GitHub error answer, naming what to fix."""
        try:
            message = str(json.loads(body).get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        status = resp.status_code
        if status == 401:
            if self.token:
                return StoreError(
                    f"GitHub refused the token in GITHUB_TOKEN for {self.url} ({message}): "
                    "set GITHUB_TOKEN to a valid token"
                )
            return StoreError(f"{self.url} needs a token for {what}: set GITHUB_TOKEN")
        if status in (403, 429) and resp.headers.get("x-ratelimit-remaining") == "0":
            fix = "wait an hour" if self.token else "set GITHUB_TOKEN (or wait an hour)"
            return StoreError(f"GitHub's API rate limit is used up for {self.url}: {fix}")
        if status == 403:
            return StoreError(
                f"GitHub denies access to {what} in {self.url} ({message}): give the token in "
                f"GITHUB_TOKEN 'contents: write' permission on {self.repo}"
            )
        return StoreError(
            f"GitHub answered HTTP {status} ({message or resp.reason}) for {what} in "
            f"{self.url}: check the repository and try again"
        )

    def _check_repo_once(self) -> None:
        """Tell "no such repository" apart from "no such release"."""
        if self._repo_seen:
            return
        resp = self._call("GET", f"{self.api}/repos/{self.repo}", "the repository", ok=(200, 404))
        if resp.status_code == 404:
            fix = (
                "check the name, and that the token in GITHUB_TOKEN can read it"
                if self.token
                else "check the name, or set GITHUB_TOKEN if it is private"
            )
            raise StoreError(f"GitHub has no repository {self.repo} for {self.url}: {fix}")
        self._repo_seen = True

    def _need_token(self, action: str) -> None:
        if not self.token:
            raise StoreError(
                f"to {action} {self.url} release-deploy needs a token: set GITHUB_TOKEN to one "
                f"with 'contents: write' permission on {self.repo}"
            )


def _locate(name: str) -> tuple[str, str]:
    """The release tag and asset name of object ``name``."""
    parts = name.split("/")
    if any(p in ("", ".", "..") for p in parts) or len(parts) not in (2, 3) or parts[1] == INDEX:
        raise StoreError(
            f"{name!r} is not a name a GitHub store can hold: use NAME/VSN/FILE or NAME/FILE"
        )
    if len(parts) == 2:
        return f"{parts[0]}-{INDEX}", parts[1]
    return _tag(parts[0], parts[1]), parts[2]


def _tag(name: str, version: str) -> str:
    return f"{name}-{version}"


def _folder(tag: str, name: str | None) -> str | None:
    """``NAME`` or ``NAME/VSN`` for a tag of ours, else None.

    With ``name`` known the split is exact; without it, the name ends at the
    first ``-`` followed by ``index`` or a version.
    """
    if name is not None:
        candidates = [(name, tag[len(name) + 1 :])] if tag.startswith(f"{name}-") else []
    else:
        candidates = [(tag[:i], tag[i + 1 :]) for i, c in enumerate(tag) if c == "-" and i]
    for head, rest in candidates:
        if rest == INDEX:
            return head
        if _is_version(rest):
            return f"{head}/{rest}"
    return None


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True
