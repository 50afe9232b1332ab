"""``pyrelease ci build`` uploading to an S3 bucket and to GitHub releases, then a
server pulling what it uploaded with ``release-deploy pull``.

S3 is moto's real server on 127.0.0.1 with signatures checked. GitHub's API
cannot be reached from here, so ``github_standin`` stands in for it, reached the
way a runner points a step at it (GITHUB_API_URL, GITHUB_TOKEN,
GITHUB_REPOSITORY). The release is built once, by the module's first run; the
runs that upload find it up to date.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from ci_helpers import ci_build, read_outputs, step_env
from deploy_helpers import deploy
from github_standin import READ_TOKEN, WRITE_TOKEN, GitHubStandIn
from helpers import DEMO, copy_project, ensure_demo_lock
from pyrelease.assemble.runtime import host_triple
from s3_server import BUCKET, Moto, moto_s3

pytestmark = pytest.mark.e2e

TRIPLE = host_triple()
NAME = f"demo-0.1.0-{TRIPLE}"
REPO = "octo-org/service"  # step_env's GITHUB_REPOSITORY


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    ws = tmp_path_factory.mktemp("ci-stores-ws")
    ensure_demo_lock(copy_project(DEMO, ws / "demo"))
    return ws


@pytest.fixture(scope="module")
def built(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The one full build of the module (upload-to none); its outputs."""
    env = step_env(tmp_path_factory.mktemp("ci-stores-step"), workspace)
    result = ci_build("demo", cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return read_outputs(Path(env["GITHUB_OUTPUT"]))


@pytest.fixture(scope="module")
def moto() -> Iterator[Moto]:
    with moto_s3() as server:
        yield server


def _aws(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """A moto environment without its HOME=/nonexistent (the build needs a home);
    the AWS profile files point at nothing instead."""
    env = {k: v for k, v in env.items() if k != "HOME"}
    env["AWS_SHARED_CREDENTIALS_FILE"] = env["AWS_CONFIG_FILE"] = str(tmp_path / "no-aws")
    return env


def _pulled(url: str, env: dict[str, str], root: Path) -> None:
    """``release-deploy pull`` installs it; its sha256 was checked against the index."""
    pulled = deploy("pull", "--from", url, "--root", root, env=env)
    assert pulled.returncode == 0, pulled.stdout + pulled.stderr
    assert f"pulled demo 0.1.0 ({TRIPLE}), sha256 ok" in pulled.stdout
    assert (root / "current" / "bin" / "demo").is_file()


def test_upload_to_s3_then_pull(
    built: dict[str, str], workspace: Path, moto: Moto, tmp_path: Path
) -> None:
    store = f"s3://{BUCKET}/ci/demo-service"
    env = step_env(tmp_path / "step", workspace, **_aws(moto.writer, tmp_path))
    result = ci_build("demo", "--upload-to", store, cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is up to date" in result.stdout  # the module's one build, not a second
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    assert out["sha256"] == built["sha256"]
    assert out["url"] == f"{store}/demo/0.1.0/{NAME}.tar.xz"
    assert f"| Uploaded to | {store} |" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()

    s3 = boto3.client(
        "s3",
        endpoint_url=moto.endpoint,
        region_name="us-east-1",
        aws_access_key_id=moto.reader["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=moto.reader["AWS_SECRET_ACCESS_KEY"],
    )
    key = out["url"].removeprefix(f"s3://{BUCKET}/")
    body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == built["sha256"]

    _pulled(store, _aws(moto.reader, tmp_path), tmp_path / "root")


def test_upload_to_github_release_then_pull(
    built: dict[str, str], workspace: Path, tmp_path: Path
) -> None:
    # A stand-in for GitHub's API (it cannot be reached from here).
    with GitHubStandIn(REPO) as gh:
        env = step_env(
            tmp_path / "step", workspace, GITHUB_API_URL=gh.api, GITHUB_TOKEN=WRITE_TOKEN
        )
        result = ci_build("demo", "--upload-to", "github-release", cwd=workspace / "demo", env=env)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "is up to date" in result.stdout
        out = read_outputs(Path(env["GITHUB_OUTPUT"]))
        assert out["sha256"] == built["sha256"]
        # The tarball's download address, as GitHub serves release assets.
        assert out["url"] == (
            f"https://github.com/{REPO}/releases/download/demo-0.1.0/{NAME}.tar.xz"
        )
        summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
        assert f"| Uploaded to | github://{REPO} |" in summary

        release = gh.release("demo-0.1.0")
        assert release is not None
        [asset] = [a for a in release["assets"] if a["name"] == f"{NAME}.tar.xz"]
        blob = gh.state.blobs[asset["id"]]
        assert hashlib.sha256(blob).hexdigest() == built["sha256"]

        pull_env = {"GITHUB_API_URL": gh.api, "GITHUB_TOKEN": READ_TOKEN}
        _pulled(f"github://{REPO}", pull_env, tmp_path / "root")
