"""moto's S3-compatible server as a real process on 127.0.0.1, with signatures checked.

The server is started with ``INITIAL_NO_AUTH_ACTION_COUNT`` set: moto serves
that many requests unchecked (used here to create IAM users, their keys and
policies, a role's temporary credentials and the bucket), then verifies every
request's SigV4 signature against the IAM keys and evaluates the caller's
policy, as AWS does. So a wrong secret key is really refused.

Use ``with moto_s3() as moto:``; ``moto.writer`` etc. are environments for
``S3Store(url, environ)`` (and for ``release-deploy`` in a subprocess).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3

BUCKET = "releases"
MOTO_SERVER = Path(sys.executable).with_name("moto_server")
# Requests moto serves before it checks signatures: the bootstrap below makes
# exactly this many (2 users x create user, create key, put policy; a role:
# create, put policy, assume; 1 bucket).
BOOTSTRAP_ACTIONS = 10


@dataclass
class Moto:
    endpoint: str
    writer: dict[str, str]
    """Environment with the key of a user allowed s3:* ."""
    reader: dict[str, str]
    """Environment with the key of a user allowed only to read and list."""
    temporary: dict[str, str]
    """Environment with temporary credentials (with a session token) of a role allowed s3:*."""


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (for servers, and for "unreachable")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not listen within 60 s")


def _make_user(iam: object, name: str, actions: list[str], endpoint: str) -> dict[str, str]:
    iam.create_user(UserName=name)  # type: ignore[attr-defined]
    key = iam.create_access_key(UserName=name)["AccessKey"]  # type: ignore[attr-defined]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    iam.put_user_policy(  # type: ignore[attr-defined]
        UserName=name, PolicyName="s3", PolicyDocument=json.dumps(policy)
    )
    return {
        "AWS_ACCESS_KEY_ID": key["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
        "AWS_ENDPOINT_URL": endpoint,
        "HOME": "/nonexistent",
    }


def _assume_role(iam: object, sts: object, endpoint: str) -> dict[str, str]:
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    role = iam.create_role(  # type: ignore[attr-defined]
        RoleName="ci", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_role_policy(  # type: ignore[attr-defined]
        RoleName="ci", PolicyName="s3", PolicyDocument=json.dumps(policy)
    )
    creds = sts.assume_role(  # type: ignore[attr-defined]
        RoleArn=role["Arn"], RoleSessionName="deploy"
    )["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL": endpoint,
        "HOME": "/nonexistent",
    }


def _start() -> tuple[int, subprocess.Popen[bytes]]:
    """moto_server on a free port; another port if one is taken meanwhile."""
    env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(BOOTSTRAP_ACTIONS))
    for attempt in range(3):
        port = free_port()
        proc = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, proc)
            return port, proc
        except RuntimeError:
            proc.kill()
            proc.wait()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


@contextmanager
def moto_s3() -> Iterator[Moto]:
    """Start moto_server, create the users and the bucket; stop it on the way out."""
    port, proc = _start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        boot = {
            "endpoint_url": endpoint,
            "region_name": "us-east-1",
            "aws_access_key_id": "bootstrap",
            "aws_secret_access_key": "bootstrap",
        }
        iam = boto3.client("iam", **boot)
        writer = _make_user(iam, "deploy", ["s3:*"], endpoint)
        reader = _make_user(iam, "server", ["s3:GetObject", "s3:ListBucket"], endpoint)
        temporary = _assume_role(iam, boto3.client("sts", **boot), endpoint)
        boto3.client("s3", **boot).create_bucket(Bucket=BUCKET)
        yield Moto(endpoint, writer, reader, temporary)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
