"""Open a store from its URL: the one place a scheme picks a store class.

| URL | store |
|---|---|
| ``/srv/store``, ``./store``, ``file:///srv/store`` | a local folder (:class:`LocalStore`) |
| ``https://host/path``, ``http://host/path`` | GET with Range / PUT (:class:`HttpStore`) |
| ``s3://bucket/prefix`` | S3-compatible object storage (``S3Store``) |
| ``github://owner/repo`` | assets of GitHub releases (``GitHubStore``) |

S3 and GitHub stores are imported only when used, so a server pulling from a
folder or an HTTP URL loads neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from pyrelease.deploy.store import Store, StoreError

SCHEMES = ("file://", "http://", "https://", "s3://", "github://")


def open_store(url: str, environ: Mapping[str, str]) -> Store:
    """The store behind ``url``; :class:`StoreError` for an unknown scheme."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else ""
    if scheme in ("", "file"):
        from pyrelease.deploy.stores.local import LocalStore

        return LocalStore(url, environ)
    if scheme in ("http", "https"):
        from pyrelease.deploy.stores.http import HttpStore

        return HttpStore(url, environ)
    if scheme == "s3":
        from pyrelease.deploy.stores.s3 import S3Store

        return S3Store(url, environ)
    if scheme == "github":
        from pyrelease.deploy.stores.github import GitHubStore

        return GitHubStore(url, environ)
    raise StoreError(
        f"unknown store scheme {scheme + '://'!r} in {url!r}: use a folder path or a "
        f"{', '.join(SCHEMES)} URL"
    )
