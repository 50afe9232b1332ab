"""A local stand-in for GitHub's REST API for releases, for tests.

GitHub's API cannot be reached from here, so this threaded HTTP server on
127.0.0.1 answers the same paths, with the same status codes and JSON fields
release-deploy uses, the way GitHub documents them:

    GET    /repos/O/R                                  the repository (404 if unknown)
    GET    /repos/O/R/releases?per_page&page           paginated, Link: rel="next"
    GET    /repos/O/R/releases/tags/TAG
    POST   /repos/O/R/releases                         201; 422 if the tag has one
    GET    /repos/O/R/releases/ID/assets?per_page&page
    POST   /uploads/repos/O/R/releases/ID/assets?name  the release's upload_url; 422 on a dup
    GET    /repos/O/R/releases/assets/ID               JSON, or with Accept:
                                                       application/octet-stream a 302 to
    GET    /storage/ID?sig=...                         on another host name (localhost),
                                                       with Range; refuses an Authorization
    PATCH  /repos/O/R/releases/assets/ID               rename
    DELETE /repos/O/R/releases/assets/ID               204

Tokens: ``Bearer WRITE_TOKEN`` may do everything, ``Bearer READ_TOKEN`` only
read; any other token gets 401 "Bad credentials". The repository is private:
without a token every path answers 404, as GitHub does.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

WRITE_TOKEN = "ghp_write"
READ_TOKEN = "ghp_read"
MAX_BODY = 64 * 1024 * 1024


@dataclass
class Fault:
    method: str
    path: str
    """A regular expression searched in the request path."""
    status: int
    after: int = 0
    """How many matching requests to let through before this one fails."""


@dataclass
class State:
    repo: str
    releases: list[dict[str, Any]] = field(default_factory=list)
    blobs: dict[int, bytes] = field(default_factory=dict)
    next_id: int = 1
    log: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    """Requests to answer with an error status instead (each fault fires once)."""
    rate_limited: bool = False
    """Answer every API request as GitHub does once the hourly limit is used up."""
    cut_download_after: int | None = None
    """Close the connection after this many body bytes of the next download."""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id


class GitHubStandIn:
    """Start with ``with GitHubStandIn("owner/repo") as gh:``; ``gh.api`` is the base URL."""

    def __init__(self, repo: str) -> None:
        self.state = State(repo)
        state = self.state

        class Handler(_Handler):
            pass

        Handler.state = state
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        Handler.port = self.port
        self.api = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=30)

    def release(self, tag: str) -> dict[str, Any] | None:
        return next((r for r in self.state.releases if r["tag_name"] == tag), None)


class _Handler(BaseHTTPRequestHandler):
    state: State
    port: int
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:
        pass

    # -- plumbing -----------------------------------------------------------

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        if not self._consumed:  # an early answer: drain the request so the connection is reusable
            try:
                self._body()
            except ValueError:
                self.close_connection = True
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        self._consumed = True
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ValueError("body too large")
        return self.rfile.read(length)

    def _who(self) -> str | None:
        """'write', 'read', None (anonymous); 'bad' for an unknown token."""
        auth = self.headers.get("Authorization")
        if auth is None:
            return None
        token = auth.split(" ", 1)[-1]
        return {WRITE_TOKEN: "write", READ_TOKEN: "read"}.get(token, "bad")

    def _release_json(self, r: dict[str, Any]) -> dict[str, Any]:
        base = f"{self._api()}/repos/{self.state.repo}/releases/{r['id']}"
        upload = f"{self._api()}/uploads/repos/{self.state.repo}/releases/{r['id']}/assets"
        return {
            **{k: v for k, v in r.items() if k != "assets"},
            "url": base,
            "assets_url": f"{base}/assets",
            "upload_url": upload + "{?name,label}",
            "assets": [self._asset_json(a) for a in r["assets"]],
        }

    def _asset_json(self, a: dict[str, Any]) -> dict[str, Any]:
        url = f"{self._api()}/repos/{self.state.repo}/releases/assets/{a['id']}"
        return {**a, "url": url, "browser_download_url": f"{url}/download"}

    def _api(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _page(self, items: list[Any], query: dict[str, list[str]], path: str) -> None:
        per_page = int(query.get("per_page", ["30"])[0])
        page = int(query.get("page", ["1"])[0])
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = (
                f'<{self._api()}{path}?per_page={per_page}&page={page + 1}>; rel="next"'
            )
        self._send(200, chunk, headers)

    # -- routing ------------------------------------------------------------

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PATCH(self) -> None:
        self._route("PATCH")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def _route(self, method: str) -> None:
        self._consumed = False
        parts = urlsplit(self.path)
        path, query = unquote(parts.path), parse_qs(parts.query)
        st = self.state
        with st.lock:
            st.log.append((method, self.path, dict(self.headers)))
        if path.startswith("/storage/"):
            return self._storage(int(path.rsplit("/", 1)[1]))
        with st.lock:
            fault = next(
                (f for f in st.faults if f.method == method and re.search(f.path, path)), None
            )
            if fault and fault.after:
                fault.after -= 1
            elif fault:
                st.faults.remove(fault)
                return self._send(fault.status, {"message": "Validation Failed"})
        if st.rate_limited:
            message = "API rate limit exceeded for 127.0.0.1."
            return self._send(403, {"message": message}, {"x-ratelimit-remaining": "0"})
        who = self._who()
        if who == "bad":
            return self._send(401, {"message": "Bad credentials"})
        if who is None:  # the repository is private
            return self._send(404, {"message": "Not Found"})
        repo = f"/repos/{st.repo}"
        upload = path.startswith(f"/uploads{repo}/")
        if upload:
            rest = path[len(f"/uploads{repo}") :]
        elif path == repo or path.startswith(f"{repo}/"):
            rest = path[len(repo) :]
        else:
            return self._nf()
        if method != "GET" and who != "write":
            return self._send(403, {"message": "Resource not accessible by integration"})
        with st.lock:
            self._dispatch(method, rest, query, path, upload)

    def _dispatch(
        self, method: str, rest: str, query: dict[str, list[str]], path: str, upload: bool
    ) -> None:
        st = self.state
        if upload != (method == "POST" and re.fullmatch(r"/releases/\d+/assets", rest) is not None):
            return self._nf()  # uploads go to the upload host only, and only uploads do
        if method == "GET" and rest == "":
            return self._send(200, {"full_name": st.repo, "private": True})
        if method == "GET" and rest == "/releases":
            return self._page([self._release_json(r) for r in st.releases[::-1]], query, path)
        if method == "POST" and rest == "/releases":
            data = json.loads(self._body())
            if any(r["tag_name"] == data["tag_name"] for r in st.releases):
                return self._send(422, {"message": "Validation Failed"})
            release = {
                "id": st.new_id(),
                "tag_name": data["tag_name"],
                "name": data.get("name"),
                "draft": bool(data.get("draft")),
                "prerelease": bool(data.get("prerelease")),
                "make_latest": data.get("make_latest", "true"),
                "target_commitish": data.get("target_commitish", "main"),
                "assets": [],
            }
            st.releases.append(release)
            return self._send(201, self._release_json(release))
        if m := re.fullmatch(r"/releases/tags/(.+)", rest):
            release = self._by_tag(m[1])
            return self._send(200, self._release_json(release)) if release else self._nf()
        if m := re.fullmatch(r"/releases/(\d+)/assets", rest):
            release = next((r for r in st.releases if r["id"] == int(m[1])), None)
            if release is None:
                return self._nf()
            if method == "GET":
                assets = [self._asset_json(a) for a in release["assets"]]
                return self._page(assets, query, path)
            return self._upload(release, query["name"][0])
        if m := re.fullmatch(r"/releases/assets/(\d+)", rest):
            found = self._asset(int(m[1]))
            if found is None:
                return self._nf()
            release, asset = found
            if method == "DELETE":
                release["assets"].remove(asset)
                st.blobs.pop(asset["id"], None)
                return self._send(204)
            if method == "PATCH":
                asset["name"] = json.loads(self._body())["name"]
                return self._send(200, self._asset_json(asset))
            if self.headers.get("Accept") == "application/octet-stream":
                # GitHub redirects to its storage host with a signed URL.
                where = f"http://localhost:{self.port}/storage/{asset['id']}?sig=x"
                return self._send(302, None, {"Location": where})
            return self._send(200, self._asset_json(asset))
        return self._nf()

    def _nf(self) -> None:
        self._send(404, {"message": "Not Found"})

    def _by_tag(self, tag: str) -> dict[str, Any] | None:
        return next(
            (r for r in self.state.releases if r["tag_name"] == tag and not r["draft"]), None
        )

    def _asset(self, asset_id: int) -> tuple[dict[str, Any], dict[str, Any]] | None:
        for release in self.state.releases:
            for asset in release["assets"]:
                if asset["id"] == asset_id:
                    return release, asset
        return None

    def _upload(self, release: dict[str, Any], name: str) -> None:
        if any(a["name"] == name for a in release["assets"]):
            return self._send(
                422, {"message": "Validation Failed", "errors": [{"code": "already_exists"}]}
            )
        data = self._body()
        asset = {
            "id": self.state.new_id(),
            "name": name,
            "size": len(data),
            "state": "uploaded",
            "content_type": self.headers.get("Content-Type"),
        }
        release["assets"].append(asset)
        self.state.blobs[asset["id"]] = data
        self._send(201, self._asset_json(asset))

    def _storage(self, asset_id: int) -> None:
        if "Authorization" in self.headers:  # as a presigned storage URL does
            return self._send(400, {"message": "Only one auth mechanism allowed"})
        data = self.state.blobs.get(asset_id)
        if data is None:
            return self._nf()
        start = 0
        if m := re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", "")):
            start = int(m[1])
        body = data[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        cut = self.state.cut_download_after
        if cut is not None:
            self.state.cut_download_after = None
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)
