"""A store on a plain HTTP(S) server: GET (with ``Range``) to pull, PUT to push.

Any server that serves files and accepts PUT works (nginx with WebDAV PUT,
Caddy, an object store's HTTP gateway). The optional bearer token comes from
``RELEASE_DEPLOY_TOKEN`` and is sent as ``Authorization: Bearer TOKEN``.
Plain HTTP cannot list a folder, so :meth:`HttpStore.list` refuses; the deploy
commands read the release's ``index.json`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import requests

from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores.local import check_name

TOKEN_VARIABLE = "RELEASE_DEPLOY_TOKEN"
CHUNK = 1 << 16
# Connect within 10 s; give up on a response that stalls for 60 s (then pull retries).
TIMEOUT = (10, 60)


class HttpStore:
    """Objects as URLs under a base URL."""

    def __init__(self, url: str, environ: Mapping[str, str]) -> None:
        self.url = url
        self.base = url.rstrip("/")
        self.session = requests.Session()
        token = environ.get(TOKEN_VARIABLE)
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.has_token = bool(token)

    def _url(self, name: str) -> str:
        check_name(name)
        return f"{self.base}/{quote(name)}"

    def _request(
        self, method: str, name: str, allow: tuple[int, ...] = (), **kwargs: object
    ) -> requests.Response:
        try:
            resp = self.session.request(method, self._url(name), timeout=TIMEOUT, **kwargs)  # type: ignore[arg-type]
        except requests.RequestException as exc:
            raise StoreError(
                f"cannot reach the store {self.url} ({type(exc).__name__}): check the URL "
                "and the network"
            ) from None
        if resp.status_code == 404:
            resp.close()
            raise NotFound(f"{name} is not in {self.url}")
        if resp.status_code in (401, 403):
            resp.close()
            hint = "the token is not accepted" if self.has_token else "it needs a token"
            raise StoreError(
                f"the store {self.url} refused {method} {name} (HTTP {resp.status_code}), "
                f"{hint}: set {TOKEN_VARIABLE} to a token it accepts"
            )
        if resp.status_code >= 400 and resp.status_code not in allow:
            resp.close()
            raise StoreError(
                f"the store {self.url} answered {method} {name} with HTTP {resp.status_code}"
            )
        return resp

    def list(self, prefix: str) -> list[str]:
        raise StoreError(f"the HTTP store {self.url} cannot list its objects: pass --name NAME")

    def size(self, name: str) -> int:
        resp = self._request("HEAD", name, allow_redirects=True)
        length = resp.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise StoreError(f"the store {self.url} did not say the size of {name}")
        return int(length)

    def get(self, name: str, start: int = 0) -> Iterator[bytes]:
        headers = {"Range": f"bytes={start}-"} if start else {}
        resp = self._request("GET", name, allow=(416,), headers=headers, stream=True)
        if resp.status_code == 416:  # nothing left after ``start``: the file is whole
            resp.close()
            return iter(())
        skip = start if start and resp.status_code != 206 else 0  # the server ignored Range
        return self._chunks(resp, name, skip)

    def _chunks(self, resp: requests.Response, name: str, skip: int) -> Iterator[bytes]:
        with resp:
            try:
                for chunk in resp.iter_content(CHUNK):
                    if skip:
                        cut = min(skip, len(chunk))
                        chunk, skip = chunk[cut:], skip - cut
                    if chunk:
                        yield chunk
            except requests.RequestException as exc:
                raise StoreError(
                    f"the download of {name} from {self.url} broke off ({type(exc).__name__})"
                ) from None

    def put(self, name: str, path: Path) -> None:
        with open(path, "rb") as f:
            resp = self._request(
                "PUT", name, data=f, headers={"Content-Length": str(path.stat().st_size)}
            )
        resp.close()

    def delete(self, name: str) -> None:
        try:
            resp = self._request("DELETE", name)
        except NotFound:
            return
        resp.close()
