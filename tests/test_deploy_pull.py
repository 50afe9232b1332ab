"""release-deploy push/pull/list/rollback/prune/verify with the real CLI against a
local folder store and a real HTTP server on 127.0.0.1 (small synthetic releases;
test_deploy_e2e.py runs real built releases)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest

from deploy_helpers import (
    DEPLOY,
    add_file,
    build_info,
    deploy,
    make_tarball,
    publish_raw,
    snapshot,
    start_deploy,
    store_server,
)
from pyrelease.deploy.host import host_triple

HOST = host_triple()


def release(tmp_path: Path, version: str, **changes: object) -> Path:
    info = build_info(version=version, **changes)
    # Incompressible padding, so downloads take a few chunks.
    padding = add_file("lib/padding.bin", os.urandom(400_000))
    return make_tarball(tmp_path / "build" / f"demo-{version}.tar.gz", info, [padding])


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def fails(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode != 0, result.stdout
    err = result.stderr
    assert err.startswith("ERROR: ") and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    for word in words:
        assert word in err, err
    return err


def current(root: Path) -> str:
    return os.readlink(root / "current")


# --------------------------------------------------------------------------- push


def test_push_is_idempotent_and_refuses_a_different_artifact(tmp_path: Path) -> None:
    store = tmp_path / "store"
    tarball = release(tmp_path, "1.0.0")
    out = ok(deploy("push", tarball, "--to", store))
    assert f"pushed demo 1.0.0 ({HOST}): demo-1.0.0.tar.gz, .sha256, index updated" in out
    index = json.loads((store / "demo/index.json").read_text())
    [entry] = index["versions"]
    assert entry["sha256"] == hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert entry["size"] == tarball.stat().st_size and entry["triple"] == HOST
    sums = (store / (entry["file"] + ".sha256")).read_text()
    assert sums.split()[0] == entry["sha256"]

    assert "nothing to do" in ok(deploy("push", tarball, "--to", f"file://{store}"))
    other = release(tmp_path / "other", "1.0.0")
    fails(
        deploy("push", other, "--to", store), "already holds a different demo 1.0.0", "new version"
    )
    assert json.loads((store / "demo/index.json").read_text()) == index


def test_push_errors(tmp_path: Path) -> None:
    fails(deploy("push", tmp_path / "nope.tar.gz", "--to", tmp_path), "does not exist")
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    fails(
        deploy("push", tmp_path / "junk.tar.gz", "--to", tmp_path / "s"), "not a readable tarball"
    )
    fails(
        deploy("push", release(tmp_path, "1.0.0"), "--to", "ftp://host/x"),
        "unknown store scheme 'ftp://'",
        "s3://",
        "github://",
    )


# --------------------------------------------------------------------------- pull


def test_pull_newest_switch_noop_list_rollback_prune(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    for version in ("1.0.0", "1.10.0", "1.9.0"):
        ok(deploy("push", release(tmp_path, version), "--to", store))
    out = ok(deploy("pull", "--from", store, "--root", root))
    assert f"pulled demo 1.10.0 ({HOST}), sha256 ok" in out  # PEP 440 order, not text order
    assert current(root) == "releases/1.10.0"
    assert "already current" in ok(deploy("pull", "--from", store, "--root", root))

    ok(deploy("pull", "--from", store, "--root", root, "--version", "1.9.0"))
    assert current(root) == "releases/1.9.0"
    assert os.readlink(root / "previous") == "releases/1.10.0"
    assert ok(deploy("list", "--root", root)).splitlines() == [
        "* 1.9.0  (current)",
        "  1.10.0  (previous)",
    ]

    out = ok(deploy("rollback", "--root", root))
    assert "rolled back from 1.9.0 to 1.10.0" in out
    assert current(root) == "releases/1.10.0"
    assert os.readlink(root / "previous") == "releases/1.9.0"

    ok(deploy("pull", "--from", store, "--root", root, "--version", "1.0.0"))
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.10.0", "1.9.0"]
    out = ok(deploy("prune", "--root", root, "--keep", "1"))
    # 1.0.0 is current and 1.10.0 previous: only 1.9.0 may go.
    assert "removed 1.9.0" in out
    assert sorted(os.listdir(root / "releases")) == ["1.0.0", "1.10.0"]


def test_list_marks_current_and_previous(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    for version in ("1.0.0", "2.0.0"):
        ok(deploy("push", release(tmp_path, version), "--to", store))
        ok(deploy("pull", "--from", store, "--root", root))
    assert ok(deploy("list", "--root", root)).splitlines() == [
        "  1.0.0  (previous)",
        "* 2.0.0  (current)",
    ]


def test_list_from_a_store(tmp_path: Path, keys: dict[str, Path]) -> None:
    store = tmp_path / "store"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("push", release(tmp_path, "1.10.0"), "--to", store, "--sign-key", keys["ci"]))
    lines = ok(deploy("list", "--from", store)).splitlines()
    assert [line.split()[:2] for line in lines] == [["1.0.0", HOST], ["1.10.0", HOST]]
    assert lines[1].endswith("signed") and not lines[0].endswith("signed")
    fails(deploy("list"), "list needs --root ROOT")
    with store_server(tmp_path / "http") as server:
        fails(deploy("list", "--from", server.url), "pass --name")
        assert "no versions of demo" in ok(deploy("list", "--from", server.url, "--name", "demo"))


def test_pull_keeps_the_last_n_versions(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    for n in range(1, 5):
        ok(deploy("push", release(tmp_path, f"{n}.0"), "--to", store))
        ok(deploy("pull", "--from", store, "--root", root, "--keep", "2"))
    assert sorted(os.listdir(root / "releases")) == ["3.0", "4.0"]


def test_cookie_is_made_once_kept_across_versions_and_linked(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("pull", "--from", store, "--root", root))
    cookie = root / "shared" / "COOKIE"
    assert stat.S_IMODE(cookie.stat().st_mode) == 0o400
    value = cookie.read_text()
    assert len(value) == 56
    ok(deploy("push", release(tmp_path, "2.0.0"), "--to", store))
    ok(deploy("pull", "--from", store, "--root", root))
    assert cookie.read_text() == value
    for version in ("1.0.0", "2.0.0"):
        link = root / "releases" / version / "releases" / "COOKIE"
        assert link.is_symlink() and link.read_text() == value


def test_pull_errors_name_the_problem(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("push", release(tmp_path, "1.1.0"), "--to", store))
    fails(deploy("pull", "--from", store, "--root", root, "--version", "3.0"),
          "demo 3.0 is not in", "1.0.0, 1.1.0")  # fmt: skip
    fails(deploy("pull", "--from", store, "--root", root, "--version", "not a version!"), "PEP 440")
    fails(deploy("pull", "--from", tmp_path / "empty", "--root", root), "does not exist")
    fails(deploy("pull", "--from", "gopher://x/y", "--root", root), "unknown store scheme")
    blocker = tmp_path / "file"
    blocker.write_text("")
    fails(deploy("pull", "--from", store, "--root", blocker / "root"), "is not writable")
    fails(deploy("rollback", "--root", root), "no release is current")
    assert not (root / "current").exists()
    ok(deploy("pull", "--from", store, "--root", root))
    fails(deploy("rollback", "--root", root), "no previous version")


def test_a_version_that_is_not_a_folder_name_is_refused(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    info = build_info(version="../../../evil")
    publish_raw(store, make_tarball(tmp_path / "evil.tar.gz", info), info)
    before = snapshot(tmp_path, skip=root)
    fails(deploy("pull", "--from", store, "--root", root), "not a PEP 440 version")
    assert snapshot(tmp_path, skip=root) == before
    assert os.listdir(root.parent) == ["demo"]
    assert os.listdir(root / "releases") == []


def test_wrong_triple_is_refused_naming_both(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    arm = "aarch64-unknown-linux-gnu"
    ok(deploy("push", release(tmp_path, "1.0.0", triple=arm), "--to", store))
    fails(deploy("pull", "--from", store, "--root", root), f"only for {arm}", HOST)
    # An index that lies about the triple: the release's own build info decides.
    info = build_info(version="2.0.0", triple=arm)
    tarball = make_tarball(tmp_path / "arm.tar.gz", info)
    publish_raw(store, tarball, {**info, "triple": HOST})
    fails(
        deploy("pull", "--from", store, "--root", root), f"built for {arm}", f"this host is {HOST}"
    )
    assert not (root / "releases" / "2.0.0").exists() and not (root / "current").exists()


def test_missing_libraries_and_newer_glibc_are_refused(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0", needed_libs=["libc.so.6", "libnothere.so.9"]),
              "--to", store))  # fmt: skip
    fails(deploy("pull", "--from", store, "--root", root), "libnothere.so.9", "--skip-host-check")
    ok(deploy("pull", "--from", store, "--root", root, "--skip-host-check"))
    ok(deploy("push", release(tmp_path, "2.0.0", glibc="99.1"), "--to", store))
    fails(
        deploy("pull", "--from", store, "--root", root), "needs glibc 99.1", "this host has glibc"
    )
    assert current(root) == "releases/1.0.0"


def test_tampered_tarball_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("pull", "--from", store, "--root", root))
    ok(deploy("push", release(tmp_path, "2.0.0"), "--to", store))
    artifact = store / f"demo/2.0.0/demo-2.0.0-{HOST}.tar.gz"
    data = bytearray(artifact.read_bytes())
    data[len(data) // 2] ^= 0xFF
    artifact.write_bytes(bytes(data))
    fails(deploy("pull", "--from", store, "--root", root), "does not match its sha256")
    assert current(root) == "releases/1.0.0"
    assert sorted(os.listdir(root / "releases")) == ["1.0.0"]
    assert os.listdir(root / ".downloads") == []


# --------------------------------------------------------------------------- signatures


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Path]:
    found = {}
    for who in ("ci", "mallory"):
        key = tmp_path / "keys" / who
        key.parent.mkdir(exist_ok=True)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", who, "-f", str(key)],
                       check=True, capture_output=True)  # fmt: skip
        found[who] = key
    pub = (tmp_path / "keys" / "ci.pub").read_text().split()
    allowed = tmp_path / "keys" / "allowed_signers"
    allowed.write_text(f'ci@example namespaces="release-deploy" {pub[0]} {pub[1]}\n')
    found["allowed"] = allowed
    return found


def test_signed_push_and_pull(tmp_path: Path, keys: dict[str, Path]) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    tarball = release(tmp_path, "1.0.0")
    out = ok(deploy("push", tarball, "--to", store, "--sign-key", keys["ci"]))
    assert ".sha256, .sig, index updated" in out
    out = ok(deploy("pull", "--from", store, "--root", root, "--allowed-signers", keys["allowed"]))
    assert "sha256 ok, signature ok (ci@example), now current" in out
    # verify FILE with the .sha256 and .sig beside it
    artifact = store / f"demo/1.0.0/demo-1.0.0-{HOST}.tar.gz"
    out = ok(deploy("verify", artifact, "--allowed-signers", keys["allowed"]))
    assert out.strip() == f"{artifact.name}: sha256 ok, signature ok (ci@example)"


def test_wrong_signature_is_refused(tmp_path: Path, keys: dict[str, Path]) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store, "--sign-key", keys["mallory"]))
    fails(deploy("pull", "--from", store, "--root", root, "--allowed-signers", keys["allowed"]),
          "not from a key in")  # fmt: skip
    ok(deploy("push", release(tmp_path, "2.0.0"), "--to", store))
    fails(deploy("pull", "--from", store, "--root", root, "--allowed-signers", keys["allowed"],
                 "--version", "2.0.0"), "is not signed")  # fmt: skip
    # Content replaced together with its checksums (a store the attacker controls):
    # only the signature can tell.
    ok(deploy("push", release(tmp_path, "3.0.0"), "--to", store, "--sign-key", keys["ci"]))
    obj = f"demo/3.0.0/demo-3.0.0-{HOST}.tar.gz"
    evil = release(tmp_path / "evil", "3.0.0")
    (store / obj).write_bytes(evil.read_bytes())
    digest = hashlib.sha256(evil.read_bytes()).hexdigest()
    (store / (obj + ".sha256")).write_text(f"{digest}  x\n")
    index = json.loads((store / "demo/index.json").read_text())
    for entry in index["versions"]:
        if entry["version"] == "3.0.0":
            entry.update(sha256=digest, size=evil.stat().st_size)
    (store / "demo/index.json").write_text(json.dumps(index))
    fails(deploy("pull", "--from", store, "--root", root, "--allowed-signers", keys["allowed"],
                 "--version", "3.0.0"), "does not match its content")  # fmt: skip
    assert not (root / "current").exists() and os.listdir(root / "releases") == []
    fails(deploy("verify", store / obj, "--allowed-signers", keys["allowed"]),
          "does not match its content")  # fmt: skip


def test_verify_detects_a_damaged_file(tmp_path: Path) -> None:
    tarball = release(tmp_path, "1.0.0")
    fails(deploy("verify", tarball), "put it beside the file or pass --sha256")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    assert "sha256 ok" in ok(deploy("verify", tarball, "--sha256", digest))
    tarball.write_bytes(tarball.read_bytes() + b"x")
    fails(deploy("verify", tarball, "--sha256", digest), "does not match its sha256")


# --------------------------------------------------------------------------- HTTP store


def test_http_store_push_pull_with_token(tmp_path: Path) -> None:
    root = tmp_path / "srv" / "demo"
    with store_server(tmp_path / "http", token="s3cret") as server:
        tarball = release(tmp_path, "1.0.0")
        fails(deploy("push", tarball, "--to", server.url), "HTTP 401", "RELEASE_DEPLOY_TOKEN")
        fails(deploy("push", tarball, "--to", server.url, env={"RELEASE_DEPLOY_TOKEN": "wrong"}),
              "not accepted", "RELEASE_DEPLOY_TOKEN")  # fmt: skip
        env = {"RELEASE_DEPLOY_TOKEN": "s3cret"}
        ok(deploy("push", tarball, "--to", server.url, env=env))
        # The root's folder name ("demo") names the release: HTTP cannot list.
        out = ok(deploy("pull", "--from", server.url, "--root", root, env=env))
        assert "pulled demo 1.0.0" in out
        other = tmp_path / "srv" / "elsewhere"
        fails(deploy("pull", "--from", server.url, "--root", other, env=env), "pass --name")
        ok(deploy("pull", "--from", server.url, "--root", other, "--name", "demo", env=env))
    fails(deploy("pull", "--from", server.url, "--root", root, "--name", "demo"),
          f"cannot reach the store {server.url}")  # fmt: skip


def test_broken_download_is_resumed_with_range(tmp_path: Path) -> None:
    root = tmp_path / "srv" / "demo"
    with store_server(tmp_path / "http") as server:
        ok(deploy("push", release(tmp_path, "1.0.0"), "--to", server.url))
        obj = f"demo/1.0.0/demo-1.0.0-{HOST}.tar.gz"
        server.drop[obj] = 1
        out = ok(deploy("pull", "--from", server.url, "--root", root))
        assert "broke off" in out and "retrying from" in out
        assert "pulled demo 1.0.0" in out
        ranges = [r for m, p, r in server.log if m == "GET" and p.endswith(obj)]
        assert ranges[0] == "" and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"


def test_killed_download_resumes_on_the_next_pull(tmp_path: Path) -> None:
    root = tmp_path / "srv" / "demo"
    with store_server(tmp_path / "http") as server:
        ok(deploy("push", release(tmp_path, "1.0.0"), "--to", server.url))
        obj = f"demo/1.0.0/demo-1.0.0-{HOST}.tar.gz"
        server.drop[obj] = 1
        fails(deploy("pull", "--from", server.url, "--root", root, "--retries", "0"),
              "broke off", "the next pull resumes")  # fmt: skip
        assert not (root / "current").exists() and os.listdir(root / "releases") == []
        assert len(os.listdir(root / ".downloads")) == 1
        out = ok(deploy("pull", "--from", server.url, "--root", root))
        assert "resuming the download at" in out and "pulled demo 1.0.0" in out
        assert os.listdir(root / ".downloads") == []


def test_pull_killed_midway_leaves_current_and_resumes(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("pull", "--from", store, "--root", root))
    with store_server(tmp_path / "http") as server:
        ok(deploy("push", release(tmp_path, "2.0.0"), "--to", server.url))
        server.delay = 0.5
        proc = start_deploy("pull", "--from", server.url, "--root", root)
        obj = f"demo/2.0.0/demo-2.0.0-{HOST}.tar.gz"
        deadline = time.monotonic() + 60
        while not any(m == "GET" and p.endswith(obj) for m, p, _ in server.log):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(1)
        proc.kill()  # SIGKILL: no clean-up code runs
        proc.communicate(timeout=30)
        assert current(root) == "releases/1.0.0"
        assert sorted(os.listdir(root / "releases")) == ["1.0.0"]
        server.delay = 0
        out = ok(deploy("pull", "--from", server.url, "--root", root))
    assert "resuming the download at" in out and "pulled demo 2.0.0" in out
    assert current(root) == "releases/2.0.0"


def test_concurrent_pulls_are_serialised(tmp_path: Path) -> None:
    root = tmp_path / "srv" / "demo"
    with store_server(tmp_path / "http") as server:
        ok(deploy("push", release(tmp_path, "1.0.0"), "--to", server.url))
        server.delay = 0.3  # per 64 KiB: the first pull holds the lock for a few seconds
        first = start_deploy("pull", "--from", server.url, "--root", root)
        obj = f"demo/1.0.0/demo-1.0.0-{HOST}.tar.gz"
        deadline = time.monotonic() + 60
        while not any(m == "GET" and p.endswith(obj) for m, p, _ in server.log):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        second = start_deploy("pull", "--from", server.url, "--root", root)
        out1, err1 = first.communicate(timeout=120)
        out2, err2 = second.communicate(timeout=120)
    assert first.returncode == 0 and second.returncode == 0, err1 + err2
    assert "pulled demo 1.0.0" in out1
    assert "waited" in out2 and "already current in" in out2 and "nothing to do" in out2
    assert os.listdir(root / "releases") == ["1.0.0"]


# --------------------------------------------------------------------------- systemd


def test_unit_runs_current_with_type_notify(tmp_path: Path) -> None:
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    fails(deploy("unit", "--root", root), "pull one first or pass --name")
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    ok(deploy("pull", "--from", store, "--root", root))
    text = ok(deploy("unit", "--root", root, "--user", "svc"))
    assert "\nType=notify\n" in text and "\nUser=svc\n" in text and "\nGroup=svc\n" in text
    assert f"\nExecStart={root}/current/bin/demo start\n" in text


def test_example_unit_is_the_shipped_template() -> None:
    from pyrelease.deploy.unit import render_unit

    example = Path(__file__).parents[1] / "examples" / "systemd" / "demo-deployed.service"
    assert example.read_text() == render_unit("/srv/demo", "demo", "demo")


def test_progress_bar_on_a_terminal_plain_lines_otherwise(tmp_path: Path) -> None:
    import pty

    store = tmp_path / "store"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    plain = ok(deploy("pull", "--from", store, "--root", tmp_path / "a" / "demo"))
    assert "25% of" in plain and "100% of" in plain

    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*DEPLOY, "pull", "--from", str(store), "--root", str(tmp_path / "b" / "demo")],
        stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert b"downloading demo-1.0.0" in screen and b"100%" in screen and b"[" in screen
    assert "25% of" not in out and "pulled demo 1.0.0" in out


def test_full_disk_leaves_current_and_no_partial_release(tmp_path: Path) -> None:
    import shlex
    import shutil

    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    probe = subprocess.run(["unshare", "--mount", "--map-root-user", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("mount namespaces are not available here")
    store, disk = tmp_path / "store", tmp_path / "disk"
    disk.mkdir()
    root = disk / "demo"
    ok(deploy("push", release(tmp_path, "1.0.0"), "--to", store))
    # 2.0.0 downloads as a few kilobytes but unpacks to 3 MB: more than the 2 MB disk.
    big = make_tarball(tmp_path / "build" / "demo-2.0.0.tar.gz", build_info(version="2.0.0"),
                       [add_file("lib/zeros.bin", bytes(3_000_000))])  # fmt: skip
    ok(deploy("push", big, "--to", store))
    pull = " ".join(shlex.quote(a) for a in [*DEPLOY, "pull", "--from", str(store), "--root"])
    script = f"""
        mount -t tmpfs -o size=2m none {disk} || exit 99
        {pull} {root} --version 1.0.0 >/dev/null || exit 98
        {pull} {root}
        echo "rc=$?"
        echo "current=$(readlink {root}/current)"
        echo "releases=$(ls -A {root}/releases | tr '\\n' ' ')"
    """
    result = subprocess.run(["unshare", "--mount", "--map-root-user", "sh", "-c", script],
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert "rc=1" in result.stdout, result.stdout + result.stderr
    assert "No space left on device" in result.stderr and "free some space" in result.stderr
    assert "current=releases/1.0.0" in result.stdout
    assert "releases=1.0.0 \n" in result.stdout
