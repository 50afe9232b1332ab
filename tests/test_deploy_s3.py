"""The S3 store against moto's S3-compatible server, run as a real process on 127.0.0.1.

``s3_server.moto_s3`` starts it with signature checking on, so a wrong secret
key is really refused here, not simulated. A few answers moto does not give
(AWS's wrong-region error, a failing upload part, a web server that is not
S3) come from a plain HTTP server scripted in this module.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import boto3
import pytest

from pyrelease.deploy.store import NotFound, StoreError
from pyrelease.deploy.stores.s3 import S3Store
from pyrelease.deploy.stores.s3config import parse_location
from s3_server import BUCKET, Moto, free_port, moto_s3


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_s3() as server:
        yield server


@pytest.fixture
def store(moto: Moto, request: pytest.FixtureRequest) -> S3Store:
    """A store under a prefix of its own, so tests do not see each other's objects."""
    return S3Store(f"s3://{BUCKET}/{request.node.name}", moto.writer)


def _file(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


# -- every method ------------------------------------------------------------


def test_put_list_size_get_delete(store: S3Store, tmp_path: Path) -> None:
    tarball = _file(tmp_path, "demo-1.0.tar.gz", 300_000)
    index = tmp_path / "index.json"
    index.write_text('{"versions": []}')
    store.put("demo/1.0/demo-1.0.tar.gz", tarball)
    store.put("demo/index.json", index)

    assert store.list("demo/") == ["demo/1.0/demo-1.0.tar.gz", "demo/index.json"]
    assert store.list("demo/1.0/") == ["demo/1.0/demo-1.0.tar.gz"]
    assert store.list("other/") == []
    assert store.size("demo/1.0/demo-1.0.tar.gz") == 300_000
    assert b"".join(store.get("demo/1.0/demo-1.0.tar.gz")) == tarball.read_bytes()

    index.write_text('{"versions": ["1.0"]}')
    store.put("demo/index.json", index)  # replaces
    assert b"".join(store.get("demo/index.json")) == b'{"versions": ["1.0"]}'

    store.delete("demo/1.0/demo-1.0.tar.gz")
    store.delete("demo/1.0/demo-1.0.tar.gz")  # absent: not an error
    assert store.list("demo/") == ["demo/index.json"]
    with pytest.raises(NotFound):
        store.size("demo/1.0/demo-1.0.tar.gz")


def test_objects_live_under_the_url_prefix(moto: Moto, tmp_path: Path) -> None:
    S3Store(f"s3://{BUCKET}/team/demo", moto.writer).put("demo/index.json", _file(tmp_path, "i", 3))
    keys = [
        o["Key"]
        for o in boto3.client(
            "s3",
            endpoint_url=moto.endpoint,
            region_name="us-east-1",
            aws_access_key_id=moto.writer["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=moto.writer["AWS_SECRET_ACCESS_KEY"],
        ).list_objects_v2(Bucket=BUCKET, Prefix="team/")["Contents"]
    ]
    assert keys == ["team/demo/demo/index.json"]


def test_get_from_an_offset_returns_the_rest(store: S3Store, tmp_path: Path) -> None:
    data = _file(tmp_path, "t", 1_000_000).read_bytes()
    store.put("demo/1.0/t", tmp_path / "t")
    assert b"".join(store.get("demo/1.0/t", 999_000)) == data[999_000:]
    assert b"".join(store.get("demo/1.0/t", 1_000_000)) == b""
    with pytest.raises(StoreError, match="fewer than the 1000001 already downloaded"):
        store.get("demo/1.0/t", 1_000_001)


def test_a_broken_download_resumes_where_it_stopped(store: S3Store, tmp_path: Path) -> None:
    data = _file(tmp_path, "t", 2_000_000).read_bytes()
    store.put("demo/1.0/t", tmp_path / "t")
    chunks = store.get("demo/1.0/t")
    received = next(iter(chunks))  # the transfer "breaks" after the first chunk
    chunks.close()  # type: ignore[attr-defined]
    assert 0 < len(received) < len(data)
    rest = b"".join(store.get("demo/1.0/t", len(received)))
    assert received + rest == data


def test_a_large_file_goes_up_in_parts(moto: Moto, tmp_path: Path) -> None:
    store = S3Store(f"s3://{BUCKET}/multipart", moto.writer, part_size=5 * 1024 * 1024)
    big = _file(tmp_path, "big.tar.gz", 11 * 1024 * 1024 + 7)
    store.put("demo/2.0/big.tar.gz", big)
    assert store.size("demo/2.0/big.tar.gz") == big.stat().st_size
    assert b"".join(store.get("demo/2.0/big.tar.gz")) == big.read_bytes()
    head = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=moto.writer["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=moto.writer["AWS_SECRET_ACCESS_KEY"],
    ).head_object(Bucket=BUCKET, Key="multipart/demo/2.0/big.tar.gz")
    assert head["ETag"].endswith('-3"')  # S3's mark of an object assembled from 3 parts


def test_list_follows_continuation_pages(moto: Moto, tmp_path: Path) -> None:
    store = S3Store(f"s3://{BUCKET}/paged", moto.writer, page_size=2)
    one = _file(tmp_path, "x", 10)
    names = [f"demo/{n}/demo-{n}.tar.gz" for n in ("1.0", "1.1", "1.2", "2.0", "2.1")]
    for name in names:
        store.put(name, one)
    assert store.list("demo/") == names


# -- credentials and where they come from -------------------------------------


def test_a_wrong_secret_key_is_refused_and_the_variable_named(moto: Moto, tmp_path: Path) -> None:
    env = {**moto.writer, "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    with pytest.raises(StoreError, match="secret key is wrong: check AWS_SECRET_ACCESS_KEY"):
        S3Store(f"s3://{BUCKET}/demo", env).list("demo/")
    with pytest.raises(StoreError, match="AWS_SECRET_ACCESS_KEY"):
        S3Store(f"s3://{BUCKET}/demo", env).put("demo/x", _file(tmp_path, "x", 5))


def test_an_unknown_access_key_is_refused_and_the_variable_named(moto: Moto) -> None:
    env = {**moto.writer, "AWS_ACCESS_KEY_ID": "AKIANOSUCHKEY0000000"}
    with pytest.raises(StoreError, match="check AWS_ACCESS_KEY_ID"):
        S3Store(f"s3://{BUCKET}/demo", env).size("demo/index.json")


def test_temporary_credentials_with_a_session_token(moto: Moto, tmp_path: Path) -> None:
    store = S3Store(f"s3://{BUCKET}/temporary", moto.temporary)
    store.put("demo/index.json", _file(tmp_path, "i", 10))
    assert store.list("demo/") == ["demo/index.json"]
    env = {**moto.temporary, "AWS_SESSION_TOKEN": "expired-or-wrong"}
    with pytest.raises(StoreError, match=r"refused the session token .*: renew AWS_SESSION_TOKEN"):
        S3Store(f"s3://{BUCKET}/temporary", env).list("demo/")


def test_a_key_without_permission_is_told_so(moto: Moto, tmp_path: Path) -> None:
    with pytest.raises(StoreError) as err:
        S3Store(f"s3://{BUCKET}/demo", moto.reader).put("demo/x", _file(tmp_path, "x", 5))
    assert "denies PUT of demo/x" in str(err.value)
    assert "give the key in AWS_ACCESS_KEY_ID access" in str(err.value)


def test_credentials_from_a_profile_file(moto: Moto, tmp_path: Path) -> None:
    creds = tmp_path / "credentials"
    creds.write_text(
        "[default]\naws_access_key_id = AKIAOTHER\naws_secret_access_key = other\n\n"
        f"[ci]\naws_access_key_id = {moto.writer['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {moto.writer['AWS_SECRET_ACCESS_KEY']}\n"
    )
    env = {
        "AWS_SHARED_CREDENTIALS_FILE": str(creds),
        "AWS_PROFILE": "ci",
        "AWS_ENDPOINT_URL": moto.endpoint,
        "HOME": str(tmp_path),
    }
    store = S3Store(f"s3://{BUCKET}/profile", env)
    store.put("demo/index.json", _file(tmp_path, "i", 20))
    assert store.list("demo/") == ["demo/index.json"]

    creds.write_text(creds.read_text().replace(moto.writer["AWS_SECRET_ACCESS_KEY"], "wrong"))
    with pytest.raises(StoreError) as err:
        S3Store(f"s3://{BUCKET}/profile", env).list("demo/")
    assert f"check aws_secret_access_key of profile 'ci' in {creds}" in str(err.value)


def test_the_default_profile_under_home(moto: Moto, tmp_path: Path) -> None:
    (tmp_path / ".aws").mkdir()
    (tmp_path / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = {moto.writer['AWS_ACCESS_KEY_ID']}\n"
        f"aws_secret_access_key = {moto.writer['AWS_SECRET_ACCESS_KEY']}\n"
    )
    (tmp_path / ".aws" / "config").write_text(f"[default]\nendpoint_url = {moto.endpoint}\n")
    store = S3Store(f"s3://{BUCKET}/home", {"HOME": str(tmp_path)})
    store.put("demo/index.json", _file(tmp_path, "i", 20))
    assert store.list("") == ["demo/index.json"]


def test_a_profile_that_does_not_exist(tmp_path: Path) -> None:
    env = {"AWS_PROFILE": "prod", "HOME": str(tmp_path)}
    with pytest.raises(
        StoreError, match="s3://releases/demo: AWS_PROFILE names the profile 'prod',"
    ):
        S3Store(f"s3://{BUCKET}/demo", env)


def test_an_unreadable_profile_file(tmp_path: Path) -> None:
    (tmp_path / "credentials").write_text("this is not an ini file\n")
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "HOME": str(tmp_path)}
    with pytest.raises(StoreError) as err:
        S3Store(f"s3://{BUCKET}/demo", env)
    assert str(err.value) == (
        f"s3://releases/demo: cannot read the AWS file {tmp_path / 'credentials'} "
        "(line 1: File contains no section headers); fix or remove it"
    )


def test_half_a_key_pair() -> None:
    with pytest.raises(
        StoreError, match="s3://releases/demo: AWS_SECRET_ACCESS_KEY is not set but"
    ):
        S3Store(f"s3://{BUCKET}/demo", {"AWS_ACCESS_KEY_ID": "AKIA", "HOME": "/nonexistent"})


# -- endpoints and errors ------------------------------------------------------


def test_endpoint_from_the_url_and_the_s3_specific_variable(moto: Moto, tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    env = {**moto.writer, "AWS_ENDPOINT_URL": dead}
    S3Store(f"s3://{BUCKET}/ep?endpoint={moto.endpoint}", env).put("a/b", _file(tmp_path, "b", 1))
    assert S3Store(f"s3://{BUCKET}/ep", {**env, "AWS_ENDPOINT_URL_S3": moto.endpoint}).list("") == [
        "a/b"
    ]


def test_an_unreachable_endpoint_is_named(moto: Moto) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError) as err:
        S3Store(f"s3://{BUCKET}/demo", {**moto.writer, "AWS_ENDPOINT_URL": dead}).list("")
    assert f"cannot reach the S3 endpoint {dead} of s3://{BUCKET}/demo" in str(err.value)
    assert "check the network and AWS_ENDPOINT_URL" in str(err.value)


def test_a_missing_bucket(moto: Moto) -> None:
    store = S3Store("s3://no-such-bucket/demo", moto.writer)
    calls = (
        lambda: store.list("demo/"),
        lambda: store.size("demo/index.json"),
        lambda: store.get("demo/index.json"),
        lambda: store.delete("demo/index.json"),
    )
    for call in calls:
        with pytest.raises(StoreError, match=r"the bucket 'no-such-bucket' .* does not exist"):
            call()


def test_a_missing_object(store: S3Store) -> None:
    with pytest.raises(NotFound, match=r"demo/9\.9/x is not in s3://"):
        store.size("demo/9.9/x")
    with pytest.raises(NotFound, match=r"demo/9\.9/x is not in s3://"):
        store.get("demo/9.9/x")


@pytest.mark.parametrize("name", ["", "demo/../x", "/demo/x", "demo//x"])
def test_object_names_that_are_not_names(store: S3Store, name: str) -> None:
    with pytest.raises(StoreError, match="is not a valid object name"):
        store.size(name)


def test_bad_store_urls() -> None:
    with pytest.raises(StoreError, match="write it as s3://BUCKET/PREFIX"):
        S3Store("s3:///demo", {})
    with pytest.raises(StoreError, match="unknown option 'endpiont'"):
        S3Store("s3://b/demo?endpiont=http://x", {})
    with pytest.raises(StoreError, match="is not a URL"):
        S3Store("s3://b/demo", {"AWS_ENDPOINT_URL": "127.0.0.1:9000", "HOME": "/nonexistent"})


def test_addressing_and_region_choices() -> None:
    env = {"HOME": "/nonexistent", "AWS_DEFAULT_REGION": "eu-west-1"}
    aws = parse_location("s3://bucket/a/b/", env)
    assert (aws.endpoint, aws.path_style, aws.prefix) == (
        "https://s3.eu-west-1.amazonaws.com",
        False,
        "a/b/",
    )
    assert parse_location("s3://my.bucket", env).path_style  # dots break virtual hosts
    assert parse_location("s3://b?region=ap-south-1", {**env, "AWS_REGION": "x"}).region == (
        "ap-south-1"
    )
    assert parse_location("s3://b", {**env, "AWS_REGION": "us-west-2"}).region == "us-west-2"
    minio = parse_location("s3://b", {**env, "AWS_ENDPOINT_URL": "http://minio:9000/"})
    assert (minio.endpoint, minio.path_style) == ("http://minio:9000", True)
    assert parse_location("s3://b", {"HOME": "/nonexistent"}).credentials is None


# -- answers moto does not give ------------------------------------------------


class _Canned(BaseHTTPRequestHandler):
    """Answers each request with ``answers[METHOD]`` (else ``answer``) and logs it in ``seen``."""

    answer: tuple[int, dict[str, str], bytes] = (404, {}, b"")
    answers: dict[str, tuple[int, dict[str, str], bytes]]
    seen: list[str]

    def _reply(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        status, headers, body = self.answers.get(self.command, self.answer)
        self.send_response(status)
        for k, v in {**headers, "Content-Length": str(len(body))}.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = _reply

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def canned() -> Iterator[tuple[str, type[_Canned]]]:
    """A plain HTTP server on 127.0.0.1 that gives one canned answer."""

    class Handler(_Canned):
        answers: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}
        seen: ClassVar[list[str]] = []

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_a_bucket_in_another_region(canned: tuple[str, type[_Canned]]) -> None:
    # What AWS answers a request signed for the wrong region (moto does not check regions).
    endpoint, handler = canned
    handler.answer = (
        400,
        {"Content-Type": "application/xml"},
        b"<Error><Code>AuthorizationHeaderMalformed</Code><Message>the region 'us-east-1' is "
        b"wrong; expecting 'eu-west-1'</Message><Region>eu-west-1</Region></Error>",
    )
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    with pytest.raises(StoreError, match="is in region eu-west-1, not us-east-1: set AWS_REGION="):
        S3Store(f"s3://{BUCKET}/demo", {**env, "HOME": "/nonexistent"}).list("demo/")


def test_an_endpoint_that_is_not_s3(canned: tuple[str, type[_Canned]]) -> None:
    endpoint, handler = canned
    handler.answer = (404, {"Content-Type": "text/html"}, b"<html><body>Not here</body></html>")
    store = S3Store(f"s3://{BUCKET}/demo", {"AWS_ENDPOINT_URL": endpoint, "HOME": "/nonexistent"})
    calls = (
        lambda: store.list("demo/"),
        lambda: store.size("demo/index.json"),
        lambda: store.get("demo/index.json"),
        lambda: store.delete("demo/index.json"),
    )
    for call in calls:
        with pytest.raises(StoreError, match="check that AWS_ENDPOINT_URL names an S3 endpoint"):
            call()
    handler.answer = (200, {}, b"<html>")
    with pytest.raises(StoreError, match="not XML"):
        store.list("demo/")


def test_unsigned_requests_that_are_refused(canned: tuple[str, type[_Canned]]) -> None:
    endpoint, handler = canned
    handler.answer = (403, {}, b"<Error><Code>AccessDenied</Code><Message>no</Message></Error>")
    store = S3Store(f"s3://{BUCKET}/demo", {"AWS_ENDPOINT_URL": endpoint, "HOME": "/nonexistent"})
    with pytest.raises(StoreError, match="to unsigned requests: set AWS_ACCESS_KEY_ID and AWS_SEC"):
        store.get("demo/index.json")


def test_local_version_labels_and_other_url_characters(store: S3Store, tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"plus")
    name = "demo/1.0+cpu.2/demo-1.0+cpu.2 (x86_64)~.tar.gz"
    store.put(name, f)
    assert store.list("demo/1.0+cpu.2/") == [name]
    assert store.size(name) == 4
    assert b"".join(store.get(name, 1)) == b"lus"
    store.delete(name)
    assert store.list("demo/") == []


def test_a_failed_multipart_upload_is_aborted(
    canned: tuple[str, type[_Canned]], tmp_path: Path
) -> None:
    endpoint, handler = canned
    handler.answers = {
        "POST": (
            200,
            {},
            b"<InitiateMultipartUploadResult><UploadId>u-1</UploadId>"
            b"</InitiateMultipartUploadResult>",
        ),
        "PUT": (500, {}, b"<Error><Code>InternalError</Code><Message>disk</Message></Error>"),
        "DELETE": (204, {}, b""),
    }
    env = {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    store = S3Store(f"s3://{BUCKET}/demo", {**env, "HOME": "/nonexistent"}, part_size=1024)
    with pytest.raises(StoreError, match=r"answered HTTP 500 \(InternalError: disk\) for demo/1"):
        store.put("demo/1.0/big", _file(tmp_path, "big", 5000))
    assert handler.seen[0] == f"POST /{BUCKET}/demo/demo/1.0/big?uploads="
    assert handler.seen[-1] == f"DELETE /{BUCKET}/demo/demo/1.0/big?uploadId=u-1"
    assert not [r for r in handler.seen if "partNumber=2" in r]  # stopped at the first failure
