"""What the stores that speak HTTP through ``requests`` share.

A session that retries what is safe to retry, a bounded read of an error
answer, and the streamed body of a download that turns a broken transfer
into a :class:`StoreError` telling the user to run the command again (the
caller resumes from the bytes it has).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import requests
from requests.adapters import HTTPAdapter, Retry

from pyrelease.deploy.store import StoreError

CHUNK = 256 * 1024
TIMEOUT = (10, 60)  # seconds to connect, and between bytes
ERROR_BODY_MAX = 64 * 1024  # an error answer is a small document; read no more


def make_session(retry_methods: Iterable[str]) -> requests.Session:
    """A session that retries ``retry_methods`` twice on connection failures and 5xx."""
    session = requests.Session()
    session.headers["User-Agent"] = "release-deploy"
    retry = Retry(
        total=2,
        read=0,
        backoff_factor=0.5,
        status_forcelist=(500, 502, 503, 504),
        allowed_methods=frozenset(retry_methods),
        raise_on_status=False,
        respect_retry_after_header=False,  # a server's Retry-After could stall us for hours
    )
    session.mount("http://", HTTPAdapter(max_retries=retry))
    session.mount("https://", HTTPAdapter(max_retries=retry))
    return session


def error_body(resp: requests.Response) -> bytes:
    """The first ``ERROR_BODY_MAX`` bytes of a streamed answer; the response is closed."""
    try:
        return resp.raw.read(ERROR_BODY_MAX, decode_content=True) or b""
    finally:
        resp.close()


def stream_body(
    resp: requests.Response, store_url: str, name: str, start: int, skip: int
) -> Iterator[bytes]:
    """The body of ``resp`` in chunks, less its first ``skip`` bytes.

    ``start`` is the offset of the body in the object, so a broken transfer
    reports how many bytes of the object the caller has.
    """
    received = start
    try:
        with resp:
            for chunk in resp.iter_content(CHUNK):
                if skip:
                    cut = min(skip, len(chunk))
                    chunk, skip = chunk[cut:], skip - cut
                received += len(chunk)
                if chunk:
                    yield chunk
    except requests.RequestException as exc:
        raise StoreError(
            f"the download of {name} from {store_url} broke after {received} bytes "
            f"({type(exc).__name__}): run the command again to resume it"
        ) from None


def connection_reason(exc: Exception) -> str:
    """A few words for why a connection failed."""
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "timed out"):
        if hint in text:
            return hint.lower()
    return type(exc).__name__
