"""S3-compatible object storage: ``s3://bucket/prefix`` on AWS, MinIO, R2, Ceph.

Object NAME lives at key ``PREFIX/NAME`` of the bucket. Requests go through
``requests`` and are signed (AWS Signature Version 4) by ``requests-aws4auth``;
where the endpoint, region and credentials come from is in :mod:`.s3config`.

Uploads up to ``part_size`` (8 MiB, the AWS CLI's threshold) are one PUT; a
larger file is sent as a multipart upload, one part in memory at a time, and
the upload is aborted if any part fails, so no half object appears.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import quote

import requests
from requests_aws4auth import AWS4Auth

from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores.s3config import S3Location, parse_location
from pyrelease.deploy.stores.sessions import (
    TIMEOUT,
    connection_reason,
    error_body,
    make_session,
    stream_body,
)

PART_SIZE = 8 * 1024 * 1024
MAX_PARTS = 10_000  # S3's limit on parts in one multipart upload
REGION_CODES = {"AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraint"}


class S3Store:
    """A store in an S3-compatible bucket; see the module docstring for the settings."""

    def __init__(
        self,
        url: str,
        environ: Mapping[str, str],
        *,
        part_size: int = PART_SIZE,
        page_size: int = 1000,
    ) -> None:
        self.url = url
        self.location: S3Location = parse_location(url, environ)
        self.part_size = part_size
        self.page_size = page_size
        creds = self.location.credentials
        self._auth = (
            AWS4Auth(
                creds.access_key,
                creds.secret_key,
                self.location.region,
                "s3",
                session_token=creds.token,
            )
            if creds
            else None
        )
        self._session = make_session({"GET", "HEAD", "PUT", "DELETE"})

    # -- the Store interface ------------------------------------------------

    def list(self, prefix: str) -> list[str]:
        """Names under ``prefix``, following ListObjectsV2 continuation tokens."""
        base = self.location.prefix
        params = {"list-type": "2", "prefix": base + prefix, "max-keys": str(self.page_size)}
        names: list[str] = []
        seen: set[str] = set()
        while True:
            resp = self._request(
                "GET", None, f"the list of {prefix or 'all objects'}", params=params
            )
            root = _xml(resp.content)
            names += [
                key[len(base) :]
                for el in _children(root, "Contents")
                if (key := _text(el, "Key")).startswith(base)
            ]
            token = _text(root, "NextContinuationToken")
            if _text(root, "IsTruncated") != "true" or not token:
                return sorted(names)
            if token in seen:
                raise StoreError(
                    f"{self.location.endpoint} repeats a page of the list of {self.url}: "
                    "check that it is an S3 endpoint that lists correctly"
                )
            seen.add(token)
            params["continuation-token"] = token

    def size(self, name: str) -> int:
        """The object's size from a HEAD request."""
        resp = self._request("HEAD", name, name, ok=None)
        if resp.status_code == 200:
            return int(resp.headers["Content-Length"])
        # A HEAD answer has no body to tell a missing key from a missing
        # bucket; a one-byte GET does.
        resp = self._request("GET", name, name, headers={"Range": "bytes=0-0"}, ok=(206,))
        return int(resp.headers["Content-Range"].rsplit("/", 1)[1])

    def get(self, name: str, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from ``start``, streamed; the request is made now."""
        headers = {"Range": f"bytes={start}-"} if start else {}
        resp = self._request("GET", name, name, headers=headers, stream=True, ok=(200, 206, 416))
        if resp.status_code == 416:
            resp.close()
            size = self.size(name)
            if start != size:
                raise StoreError(
                    f"{name} in {self.url} has {size} bytes, fewer than the {start} already "
                    "downloaded: delete the partial download and fetch it again"
                )
            return iter(())
        # A server that ignores Range sends the whole object: skip what we have.
        skip = start if resp.status_code == 200 else 0
        return stream_body(resp, self.url, name, start, skip)

    def put(self, name: str, path: Path) -> None:
        """Upload ``path`` as ``name``: one PUT, or a multipart upload if large."""
        size = path.stat().st_size
        headers = {"Content-Type": "application/octet-stream"}
        if size <= self.part_size:
            self._request("PUT", name, name, headers=headers, data=path.read_bytes())
            return
        part_size = max(self.part_size, math.ceil(size / MAX_PARTS))
        resp = self._request("POST", name, name, params={"uploads": ""}, headers=headers)
        upload_id = _text(_xml(resp.content), "UploadId")
        try:
            parts = self._upload_parts(name, path, upload_id, part_size)
            body = "".join(
                f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>" for n, etag in parts
            )
            resp = self._request(
                "POST",
                name,
                name,
                params={"uploadId": upload_id},
                data=f"<CompleteMultipartUpload>{body}</CompleteMultipartUpload>".encode(),
            )
            # S3 may answer 200 and put the failure in the body.
            if _tag(_xml(resp.content)) == "Error":
                raise self._error(resp, name, body=resp.content)
        except BaseException:
            self._abort(name, upload_id)
            raise

    def delete(self, name: str) -> None:
        """Delete the object; an absent one is not an error (a missing bucket is)."""
        try:
            self._request("DELETE", name, name, ok=(200, 204))
        except NotFound:
            pass

    # -- helpers ------------------------------------------------------------

    def _upload_parts(
        self, name: str, path: Path, upload_id: str, part_size: int
    ) -> list[tuple[int, str]]:
        parts = []
        with path.open("rb") as f:
            while chunk := f.read(part_size):
                number = len(parts) + 1
                params = {"partNumber": str(number), "uploadId": upload_id}
                resp = self._request("PUT", name, name, params=params, data=chunk)
                parts.append((number, resp.headers["ETag"]))
        return parts

    def _abort(self, name: str, upload_id: str) -> None:
        try:
            self._request("DELETE", name, name, params={"uploadId": upload_id}, ok=(204, 404))
        except StoreError:
            pass  # the first failure is the one to report; S3 expires the rest

    def _object_url(self, name: str | None) -> str:
        loc = self.location
        key = "" if name is None else quote(loc.prefix + _check_name(name), safe="/~")
        if loc.path_style:
            return f"{loc.endpoint}/{loc.bucket}/{key}"
        scheme, host = loc.endpoint.split("://", 1)
        return f"{scheme}://{loc.bucket}.{host}/{key}"

    def _request(
        self,
        method: str,
        name: str | None,
        what: str,
        *,
        ok: tuple[int, ...] | None = (200,),
        stream: bool = False,
        **kwargs: object,
    ) -> requests.Response:
        """Send a signed request for object ``name`` (None: the bucket).

        Raises the error the answer means unless its status is in ``ok`` (None:
        any status). ``what`` names the object or prefix in messages.
        """
        url = self._object_url(name)
        try:
            resp = self._session.request(
                method,
                url,
                auth=self._auth,
                timeout=TIMEOUT,
                allow_redirects=False,
                stream=True,
                **kwargs,  # type: ignore[arg-type]
            )
            if ok is None or resp.status_code in ok:
                if not stream:
                    resp.content  # noqa: B018 - read the whole (small) answer now
                return resp
            body = error_body(resp)
        except requests.ConnectionError as exc:
            loc = self.location
            raise StoreError(
                f"cannot reach the S3 endpoint {loc.endpoint} of {self.url} "
                f"({connection_reason(exc)}): check the network and {loc.endpoint_source}"
            ) from None
        except requests.RequestException as exc:
            raise StoreError(
                f"the S3 endpoint {self.location.endpoint} of {self.url} did not answer "
                f"({type(exc).__name__}): check the network and try again"
            ) from None
        raise self._error(resp, what, body=body)

    def _error(self, resp: requests.Response, what: str, *, body: bytes) -> StoreError:
        """One sentence for an S3 error answer, naming the setting to fix."""
        loc, creds, url = self.location, self.location.credentials, self.url
        code, message, region = "", "", resp.headers.get("x-amz-bucket-region", "")
        if body.strip():
            try:
                root: ET.Element | None = _xml(body)
            except StoreError:
                root = None
            if root is None or _tag(root) != "Error":
                return StoreError(
                    f"{loc.endpoint} answered HTTP {resp.status_code} for {what} in {url} with "
                    f"something that is not an S3 error: check that {loc.endpoint_source} "
                    "names an S3 endpoint"
                )
            code, message = _text(root, "Code"), _text(root, "Message")
            region = _text(root, "Region") or region
        if code == "NoSuchKey":
            return NotFound(f"{what} is not in {url}: check the name, or push it first")
        if code == "NoSuchBucket":
            return StoreError(
                f"the bucket {loc.bucket!r} of {url} does not exist at {loc.endpoint}: "
                "create it, or correct the bucket name in the store URL"
            )
        if creds and code in ("InvalidAccessKeyId", "InvalidClientTokenId"):
            return StoreError(
                f"{loc.endpoint} does not know the access key id given for {url}: "
                f"check {creds.access_key_source}"
            )
        if creds and code == "SignatureDoesNotMatch":
            return StoreError(
                f"{loc.endpoint} refused the signature of requests to {url}, so the secret "
                f"key is wrong: check {creds.secret_key_source}"
            )
        if creds and code in ("InvalidToken", "ExpiredToken", "TokenRefreshRequired"):
            return StoreError(
                f"{loc.endpoint} refused the session token for {url} ({code}): "
                f"renew {creds.token_source}"
            )
        if region and region != loc.region and (code in REGION_CODES or resp.status_code == 301):
            return StoreError(
                f"the bucket {loc.bucket!r} of {url} is in region {region}, not {loc.region}: "
                f"set AWS_REGION={region} (or ?region={region} on the store URL)"
            )
        if code == "AccessDenied" or resp.status_code == 403:
            fix = (
                f"give the key in {creds.access_key_source} access to the bucket"
                if creds
                else "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE"
            )
            who = "these credentials" if creds else "unsigned requests"
            return StoreError(f"{url} denies {resp.request.method} of {what} to {who}: {fix}")
        detail = f"{code}: {message}" if code else resp.reason
        return StoreError(
            f"{loc.endpoint} answered HTTP {resp.status_code} ({detail}) for {what} in {url}: "
            "check the store URL, or try again if the service is having trouble"
        )


def _check_name(name: str) -> str:
    parts = name.split("/")
    if not name or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"{name!r} is not a valid object name: use NAME/VSN/FILE")
    return name


def _xml(data: bytes) -> ET.Element:
    try:
        return ET.fromstring(data)
    except ET.ParseError:
        raise StoreError(
            f"an S3 endpoint answered with something that is not XML ({data[:60]!r}): "
            "check that the store URL's endpoint is an S3 service"
        ) from None


def _tag(el: ET.Element) -> str:
    return el.tag.rsplit("}", 1)[-1]


def _children(el: ET.Element, tag: str) -> list[ET.Element]:
    return [c for c in el if _tag(c) == tag]


def _text(el: ET.Element, tag: str) -> str:
    found = _children(el, tag)
    return (found[0].text or "") if found else ""
