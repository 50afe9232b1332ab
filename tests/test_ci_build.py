"""``pyrelease ci build``, the command the GitHub Action runs, on the example project
with the environment GitHub gives a step (GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, ...)
pointed at temporary files; uploads through the real ``release-deploy push`` to a
folder store and to a real HTTPS server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import ssl
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci_helpers import annotations, ci_build, read_outputs, step_env
from deploy_helpers import deploy, store_server
from helpers import DEMO, copy_project, ensure_demo_lock
from pyrelease.assemble.runtime import host_triple
from pyrelease.ci.run import WITHHELD

pytestmark = pytest.mark.e2e

TRIPLE = host_triple()
NAME = f"demo-0.1.0-{TRIPLE}"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkout with the example project in demo/; built once, then up to date."""
    ws = tmp_path_factory.mktemp("ci-ws")
    project = copy_project(DEMO, ws / "demo")
    ensure_demo_lock(project)
    return ws


@pytest.fixture(scope="module")
def first_build(workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The first run on GitHub: a full build of the default release, upload-to artifact."""
    tmp = tmp_path_factory.mktemp("ci-step")
    env = step_env(tmp, workspace)
    result = ci_build("", "--upload-to", "artifact", cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return {
        "result": result,
        "outputs": read_outputs(Path(env["GITHUB_OUTPUT"])),
        "summary": Path(env["GITHUB_STEP_SUMMARY"]).read_text(),
    }


def test_every_output_describes_the_artifact(first_build: dict, workspace: Path) -> None:
    out = first_build["outputs"]
    artifact = Path(out["artifact"])
    assert artifact == workspace / "demo" / "_build" / "prod" / f"{NAME}.tar.xz"
    digest = hashlib.sha256(artifact.read_bytes()).hexdigest()
    assert out["sha256"] == digest
    assert out["version"] == "0.1.0"
    assert out["target"] == TRIPLE
    assert out["name"] == "demo"
    assert out["artifact-name"] == NAME
    assert out["url"] == ""
    assert Path(out["sha256-file"]) == artifact.with_name(artifact.name + ".sha256")
    assert Path(out["sha256-file"]).read_text() == f"{digest}  {artifact.name}\n"
    # The checksum file is the one sha256sum checks.
    check = subprocess.run(
        ["sha256sum", "-c", Path(out["sha256-file"]).name],
        cwd=artifact.parent,
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0 and "OK" in check.stdout


def test_the_tarball_is_the_release(first_build: dict) -> None:
    """No `tar` in the demo release's steps: the command packs it, as `tar` would."""
    with tarfile.open(first_build["outputs"]["artifact"]) as tar:
        names = tar.getnames()
        info = json.loads(tar.extractfile("releases/0.1.0/build_info.json").read())
    assert "bin/demo" in names
    assert not [n for n in names if n.startswith("tmp/") or n == "releases/COOKIE"]
    assert (info["name"], info["version"], info["triple"]) == ("demo", "0.1.0", TRIPLE)


def test_the_job_summary_is_a_table_of_the_facts(first_build: dict) -> None:
    out, summary = first_build["outputs"], first_build["summary"]
    assert summary.startswith(f"### Release demo 0.1.0 ({TRIPLE})\n")
    rows = dict(
        line.strip("|").split("|", 1)
        for line in summary.splitlines()
        if line.startswith("| ") and not line.startswith("| |")
    )
    rows = {k.strip(): v.strip() for k, v in rows.items()}
    size = Path(out["artifact"]).stat().st_size
    assert rows["Release"] == "demo"
    assert rows["Version"] == "0.1.0"
    assert rows["Target"] == TRIPLE
    assert rows["Artifact"] == f"`{NAME}.tar.xz`"
    assert rows["Size"] == f"{size / 1e6:.1f} MB ({size} bytes)"
    assert rows["sha256"] == f"`{out['sha256']}`"
    assert rows["Build time"].endswith(" s") and float(rows["Build time"][:-2]) > 0
    assert rows["Uploaded to"] == f"workflow artifact {NAME}"


def test_outside_github_the_same_facts_are_plain_text(first_build: dict, workspace: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "RUNNER_"))}
    result = ci_build("demo", cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stderr
    assert "is up to date" in result.stdout
    assert "::" not in result.stdout
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines()[-9:])
    assert lines["sha256"] == first_build["outputs"]["sha256"]
    assert lines["Target"] == TRIPLE
    assert lines["Path"] == first_build["outputs"]["artifact"]
    assert lines["Uploaded"] == "to  not uploaded"


def test_a_release_whose_steps_tar_keeps_that_tarball(workspace: Path, tmp_path: Path) -> None:
    env = step_env(tmp_path, workspace)
    dist = str(tmp_path / "dist")
    result = ci_build("demo_minimal", "--out-dir", dist, cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    made_by_tar_step = workspace / "demo" / "_build" / "prod" / "demo_minimal-0.1.0.tar.xz"
    assert Path(out["artifact"]) == tmp_path / "dist" / f"demo_minimal-0.1.0-{TRIPLE}.tar.xz"
    assert Path(out["artifact"]).read_bytes() == made_by_tar_step.read_bytes()


# --------------------------------------------------------------------------- errors


def test_a_configuration_error_is_an_annotation_at_its_line(tmp_path: Path) -> None:
    project = copy_project(DEMO, tmp_path / "ws" / "services" / "demo")
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        "[tool.pyrelease.releases.demo]\n",
        "[tool.pyrelease.releases.demo]\ninclude_runtim = true\n",
    )
    (project / "pyproject.toml").write_text(text)
    line = text.splitlines().index("include_runtim = true") + 1
    env = step_env(tmp_path / "step", tmp_path / "ws")
    result = ci_build("demo", cwd=project, env=env)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [found] = annotations(result.stdout)
    assert found["level"] == "error"
    assert found["file"] == "services/demo/pyproject.toml"
    assert found["line"] == str(line)
    assert "unknown option `include_runtim`; did you mean `include_runtime`?" in found["message"]
    assert f"services/demo/pyproject.toml:{line}: error: " in result.stderr
    assert read_outputs(Path(env["GITHUB_OUTPUT"])) == {}
    assert not (project / "_build").exists()

    # Outside GitHub: the same place, as a compiler would print it; no workflow command.
    plain = {k: v for k, v in env.items() if not k.startswith("GITHUB_")}
    result = ci_build("demo", cwd=project, env=plain)
    assert result.returncode == 1 and "::error" not in result.stdout
    assert f"pyproject.toml:{line}: error: release demo: unknown option" in result.stderr


def test_an_unknown_upload_to_fails_before_building(tmp_path: Path) -> None:
    project = copy_project(DEMO, tmp_path / "demo")
    env = step_env(tmp_path / "step", tmp_path)
    result = ci_build("--upload-to", "ftp://example/x", cwd=project, env=env)
    assert result.returncode == 1
    [found] = annotations(result.stdout)
    assert "upload-to 'ftp://example/x' is not understood" in found["message"]
    assert "file" not in found
    assert not (project / "_build").exists()


# --------------------------------------------------------------------------- uploads


def test_upload_to_a_folder_store_then_pull_it(
    first_build: dict, workspace: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    env = step_env(tmp_path / "step", workspace)
    result = ci_build("--upload-to", f"file://{store}", cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"pushed demo 0.1.0 ({TRIPLE})" in result.stdout
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    obj = store / "demo" / "0.1.0" / f"{NAME}.tar.xz"
    assert out["url"] == f"file://{obj}"
    assert obj.read_bytes() == Path(out["artifact"]).read_bytes()
    index = json.loads((store / "demo" / "index.json").read_text())
    assert [(e["version"], e["triple"], e["sha256"]) for e in index["versions"]] == [
        ("0.1.0", TRIPLE, out["sha256"])
    ]
    assert f"| Uploaded to | file://{store} |" in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    # What CI pushed, a server pulls: the names agree with release-deploy's.
    pulled = deploy("pull", "--from", f"file://{store}", "--root", tmp_path / "root")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "root" / "current" / "bin" / "demo").is_file()


def test_a_gz_release_is_published_and_pulled_as_tar_gz(tmp_path: Path) -> None:
    """Both tarball formats go through CI and release-deploy alike: the artifact keeps
    the release's ``tar_format`` in its bytes and in its name, in the store too."""
    project = copy_project(DEMO, tmp_path / "ws" / "demo")
    ensure_demo_lock(project)
    text = (project / "pyproject.toml").read_text()
    text = text.replace(
        "[tool.pyrelease.releases.demo]\n", '[tool.pyrelease.releases.demo]\ntar_format = "gz"\n'
    )
    (project / "pyproject.toml").write_text(text)
    store = tmp_path / "store"
    env = step_env(tmp_path / "step", tmp_path / "ws")
    result = ci_build("demo", "--upload-to", f"file://{store}", cwd=project, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    artifact = Path(out["artifact"])
    assert artifact.name == f"{NAME}.tar.gz"
    assert artifact.read_bytes()[:2] == b"\x1f\x8b"  # gzip's magic number
    assert out["artifact-name"] == NAME
    assert (store / "demo" / "0.1.0" / f"{NAME}.tar.gz").read_bytes() == artifact.read_bytes()
    pulled = deploy("pull", "--from", f"file://{store}", "--root", tmp_path / "root")
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "root" / "current" / "bin" / "demo").is_file()


@pytest.fixture
def https_store(tmp_path: Path) -> Iterator[tuple[str, Path, Path]]:
    """A real HTTPS store on 127.0.0.1 (PUT and GET) with a self-signed certificate;
    requires ``Authorization: Bearer s3cret``. Yields (url, served folder, CA file)."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with store_server(tmp_path / "served", token="s3cret") as server:
        server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
        yield server.url.replace("http://", "https://") + "/releases", tmp_path / "served", cert


def test_upload_to_an_https_store(
    first_build: dict, workspace: Path, tmp_path: Path, https_store: tuple[str, Path, Path]
) -> None:
    url, served, ca = https_store
    env = step_env(
        tmp_path / "step", workspace, RELEASE_DEPLOY_TOKEN="s3cret", REQUESTS_CA_BUNDLE=str(ca)
    )
    result = ci_build("--upload-to", url, cwd=workspace / "demo", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    assert out["url"] == f"{url}/demo/0.1.0/{NAME}.tar.xz"
    obj = served / "releases" / "demo" / "0.1.0" / f"{NAME}.tar.xz"
    assert obj.read_bytes() == Path(out["artifact"]).read_bytes()
    assert (served / "releases" / "demo" / "index.json").is_file()


def test_a_refused_upload_is_an_error_and_keeps_the_artifact(
    first_build: dict, workspace: Path, tmp_path: Path, https_store: tuple[str, Path, Path]
) -> None:
    url, served, ca = https_store
    env = step_env(
        tmp_path / "step", workspace, RELEASE_DEPLOY_TOKEN="wrong", REQUESTS_CA_BUNDLE=str(ca)
    )
    result = ci_build("--upload-to", url, cwd=workspace / "demo", env=env)
    assert result.returncode == 1
    assert "RELEASE_DEPLOY_TOKEN" in result.stderr  # release-deploy's own message
    [found] = annotations(result.stdout)
    assert f"release-deploy push of {NAME}.tar.xz to {url} failed" in found["message"]
    assert read_outputs(Path(env["GITHUB_OUTPUT"])) == {}
    assert Path(first_build["outputs"]["artifact"]).is_file()
    assert not list(served.rglob("*.tar.xz"))
    shutil.rmtree(served, ignore_errors=True)


# --------------------------------------------------------------------------- prebuilt


def test_a_release_built_elsewhere_is_published_as_is(
    first_build: dict, workspace: Path, tmp_path: Path
) -> None:
    """--prebuilt (what the Nix build uses): the release directory packs to the same bytes."""
    release_dir = workspace / "demo" / "_build" / "prod" / "rel" / "demo"
    env = step_env(tmp_path / "step", workspace)
    out_dir = str(tmp_path / "dist")
    result = ci_build(
        "--prebuilt", str(release_dir), "--out-dir", out_dir, cwd=workspace / "demo", env=env
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = read_outputs(Path(env["GITHUB_OUTPUT"]))
    assert Path(out["artifact"]) == tmp_path / "dist" / f"{NAME}.tar.xz"
    assert out["sha256"] == first_build["outputs"]["sha256"]

    # A tarball is taken as it is, under the artifact's name.
    env = step_env(tmp_path / "step2", workspace)
    again = ci_build(
        "--prebuilt", out["artifact"], "--out-dir", str(tmp_path / "again"),
        cwd=workspace / "demo", env=env,
    )  # fmt: skip
    assert again.returncode == 0, again.stdout + again.stderr
    assert read_outputs(Path(env["GITHUB_OUTPUT"]))["sha256"] == out["sha256"]


def test_a_version_override_of_a_prebuilt_release_is_refused(
    workspace: Path, tmp_path: Path
) -> None:
    env = step_env(tmp_path / "step", workspace)
    result = ci_build(
        "--prebuilt", str(tmp_path), "--version", "2.0", cwd=workspace / "demo", env=env
    )
    assert result.returncode == 1
    [found] = annotations(result.stdout)
    assert "a version override applies to `pyrelease build` only" in found["message"]
    assert "Traceback" not in result.stderr


# --------------------------------------------------------------------------- nix


def test_nix_true_without_nix_says_how_to_get_it(workspace: Path, tmp_path: Path) -> None:
    env = step_env(tmp_path / "step", workspace)
    env["PATH"] = str(tmp_path / "empty-bin")  # no nix on this PATH
    result = ci_build("demo", "--nix", "true", cwd=workspace / "demo", env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    [found] = annotations(result.stdout)
    assert found["message"] == "nix is not installed on this runner"
    assert "install-nix-action" in result.stderr


def test_the_build_does_not_see_the_upload_credentials(
    workspace: Path, tmp_path: Path, https_store: tuple[str, Path, Path]
) -> None:
    """The project's own code runs during the build (here config/config.py); the
    upload token and cloud keys are kept from it and given to the push only."""
    project = copy_project(DEMO, tmp_path / "demo")
    seen = tmp_path / "seen.json"
    (project / "config" / "config.py").write_text(
        "import json, os\n"
        f"json.dump({{k: os.environ.get(k) for k in {WITHHELD!r}}}, open({str(seen)!r}, 'w'))\n"
        "raise SystemExit('stop the build here')\n"
    )
    url, _, ca = https_store
    secrets = {k: f"secret-{k}" for k in WITHHELD}
    env = step_env(tmp_path / "step", tmp_path, REQUESTS_CA_BUNDLE=str(ca), **secrets)
    result = ci_build("--upload-to", url, cwd=project, env=env)
    assert result.returncode == 1
    assert json.loads(seen.read_text()) == dict.fromkeys(WITHHELD)
    assert "secret-" not in result.stdout + result.stderr
