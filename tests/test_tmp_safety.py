"""``RELEASE_TMP`` prepared by another local user must not let that user make the
node (often running as root) overwrite, truncate or re-mode files it does not
own. Real processes and a real second, unprivileged user created for these
tests (``useradd``, removed at the end); the attacker's moves are made as that
user (``setpriv``), the node is started as root with the real ``bin/NAME``."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import stat
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import base_env, make_dist, pyrelease, write_pylock
from test_daemon import DMN, Daemon, adopt_orphans, reap, wait_until  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
]

SECRET = "root's precious file: must never change\n"
COOKIE = "tmp_safety_test_cookie_" + "x" * 33


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The release, built once, reachable (not writable) by other users."""
    base = tmp_path_factory.mktemp("tmpsafety")
    project = make_dist(base, "dmn", "dmn", DMN, "[]", '[tool.pyrelease]\nmod = "dmn.app:start"')
    write_pylock(project, [])
    result = pyrelease("build", cwd=project)
    assert result.returncode == 0, result.stdout + result.stderr
    release = project / "_build" / "prod" / "rel" / "dmn"
    for folder in [release, *release.parents]:  # pytest's temp folders are 0700
        if folder == Path("/tmp"):
            break
        folder.chmod(folder.stat().st_mode | 0o055)
    return release


@pytest.fixture(scope="module")
def other() -> Iterator[pwd.struct_passwd]:
    """A real second user, without privileges; removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create a second user (useradd)")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs useradd and setpriv (util-linux) to act as a second user")
    name = f"prtmp{os.getpid() % 100000}"
    made = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
        capture_output=True, text=True,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"could not create a second user: {made.stderr.strip()}")
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", name], capture_output=True)


def as_user(user: pwd.struct_passwd, *command: str, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``command`` as ``user`` (real and effective ids, no supplementary groups)."""
    return subprocess.run(
        ["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
         *command],
        env=env, capture_output=True, text=True, timeout=timeout, cwd="/",
    )  # fmt: skip


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A fresh name directly under /tmp (world-writable, sticky): where another user
    can get there first."""
    path = Path("/tmp") / f"pyrelease-tmp-safety-{uuid.uuid4().hex[:12]}"
    try:
        yield path
    finally:
        if path.is_symlink():
            path.unlink()
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A root-owned file and folder the attacker would like the node to write to."""
    folder = tmp_path / "victim"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    (folder / "secret").write_text(SECRET)
    (folder / "secret").chmod(0o644)
    return folder


def unchanged(victim: Path) -> None:
    secret = victim / "secret"
    assert secret.read_text() == SECRET
    assert stat.S_IMODE(secret.stat().st_mode) == 0o644
    assert stat.S_IMODE(victim.stat().st_mode) == 0o755
    assert sorted(p.name for p in victim.iterdir()) == ["secret"]


def plant(user: pwd.struct_passwd, script: str) -> None:
    """Run a shell script as the attacker."""
    done = as_user(user, "/bin/sh", "-ec", script, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr


def links_script(tmp: Path, victim: Path, only: tuple[str, ...] = ("",)) -> str:
    """Symlinks named like every runtime file (those whose names start with one of
    ``only``), all pointing at root's file or folder."""
    secret = victim / "secret"
    names = ["dmn.pid", "dmn.supervisor.pid", "log/dmn.log", "pipe/dmn.in", "pipe/dmn.notify",
             *(f"log/dmn.log.{i}" for i in range(1, 6))]  # fmt: skip
    lines = [f"ln -s {secret} {tmp}/{name}" for name in names if name.startswith(only)]
    if "" in only:
        lines.append(f"ln -s {victim} {tmp}/sockets")
    return "\n".join(lines)


def one_error_line(result: subprocess.CompletedProcess[str], *words: str) -> str:
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def run_and_clean_up(d: Daemon) -> subprocess.CompletedProcess[str]:
    """``bin/dmn daemon``, expected to fail; whatever it started is stopped."""
    try:
        return d.run("daemon", RELEASE_COOKIE=COOKIE)
    finally:
        d.kill_all()


# -- the attack: RELEASE_TMP made by another user ----------------------------------


def test_daemon_refuses_a_release_tmp_another_user_prepared(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path
) -> None:
    plant(other, f"mkdir -m 777 {shared_tmp} {shared_tmp}/log {shared_tmp}/pipe\n"
                 + links_script(shared_tmp, victim))  # fmt: skip
    d = Daemon(root, shared_tmp)
    try:
        result = d.run("daemon")
    finally:
        d.kill_all()
    line = one_error_line(result, str(shared_tmp), other.pw_name)
    assert "RELEASE_TMP" in line
    unchanged(victim)


def test_start_refuses_a_release_tmp_another_user_prepared(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path
) -> None:
    plant(other, f"mkdir -m 755 {shared_tmp}\nln -s {victim} {shared_tmp}/sockets")
    env = {**base_env(), "RELEASE_TMP": str(shared_tmp), "RELEASE_COOKIE": COOKIE}
    try:
        result = subprocess.run([str(root / "bin" / "dmn"), "start"], env=env,
                                capture_output=True, text=True, timeout=20)  # fmt: skip
    except subprocess.TimeoutExpired:  # it booted: the link was followed
        result = subprocess.CompletedProcess([], -9, "", "the node started")
    one_error_line(result, str(shared_tmp), other.pw_name)
    unchanged(victim)


@pytest.mark.parametrize("command", ["daemon", "daemon_iex"])
def test_a_0777_log_folder_is_made_private_and_links_planted_in_it_are_not_followed(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path, command: str
) -> None:
    """RELEASE_TMP is root's and closed to others, but an earlier run (umask 000) left
    a world-writable log/ and pipe/ in it, where the attacker planted links."""
    shared_tmp.mkdir(mode=0o755)
    shared_tmp.chmod(0o755)
    for folder in ("log", "pipe"):
        (shared_tmp / folder).mkdir()
        (shared_tmp / folder).chmod(0o777)
    plant(other, links_script(shared_tmp, victim, only=("log/", "pipe/")))
    d = Daemon(root, shared_tmp)
    try:
        d.start(command, RELEASE_COOKIE=COOKIE)
        unchanged(victim)
        assert "dmn up" in d.log_text()
        for folder in ("log", "pipe"):
            assert stat.S_IMODE((shared_tmp / folder).stat().st_mode) == 0o700
            assert all(p.owner() == "root" for p in (shared_tmp / folder).iterdir())
        current = d.log.resolve()
        assert current.parent == shared_tmp / "log" and current.owner() == "root"
        assert not any(p.is_symlink() for p in (shared_tmp / "log").glob("dmn.log.*"))
        if command == "daemon_iex":
            assert stat.S_ISFIFO(d.fifo.lstat().st_mode)
            with open(d.fifo, "w") as pipe:  # the REPL is reached through the new FIFO
                pipe.write("print('via the pipe', 6 * 7)\n")
            wait_until(lambda: "via the pipe 42" in d.log_text(), "the REPL to answer")
        assert d.run("stop", RELEASE_COOKIE=COOKIE).returncode == 0
        wait_until(lambda: not d.processes(), "the daemon to stop")
    finally:
        d.kill_all()
    unchanged(victim)


def test_attach_refuses_to_type_into_another_users_pipe(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path
) -> None:
    """The attacker makes RELEASE_TMP with a FIFO named like daemon_iex's and reads
    it, hoping an operator attaches and types a password."""
    plant(other, f"mkdir -m 755 {shared_tmp} {shared_tmp}/pipe\nmkfifo {shared_tmp}/pipe/dmn.in")
    command = ["setpriv", f"--reuid={other.pw_uid}", f"--regid={other.pw_gid}",
               "--clear-groups", "cat", f"{shared_tmp}/pipe/dmn.in"]  # fmt: skip
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as reader:
        try:
            env = {**base_env(), "RELEASE_TMP": str(shared_tmp), "RELEASE_COOKIE": COOKIE}
            result = subprocess.run([str(root / "bin" / "dmn"), "attach"], env=env,
                                    input="the root password\n", capture_output=True,
                                    text=True, timeout=30)  # fmt: skip
        finally:
            reader.kill()
            captured = reader.communicate(timeout=30)[0]
    assert "the root password" not in captured
    one_error_line(result, str(shared_tmp), other.pw_name)


def test_a_release_tmp_that_is_another_users_link_is_refused(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path
) -> None:
    """The attacker plants RELEASE_TMP itself as a link to a folder of root's."""
    plant(other, f"ln -s {victim} {shared_tmp}")
    d = Daemon(root, shared_tmp)
    try:
        result = d.run("daemon", RELEASE_COOKIE=COOKIE)
    finally:
        d.kill_all()
    one_error_line(result, str(shared_tmp), other.pw_name, "symbolic link")
    unchanged(victim)


def test_an_open_sockets_folder_is_closed_and_a_planted_port_file_not_followed(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path
) -> None:
    """TCP distribution with an ephemeral port: the node writes its port to
    sockets/NODE.port, where the attacker put a link while the folder was open."""
    shared_tmp.mkdir(mode=0o755)
    shared_tmp.chmod(0o755)
    (shared_tmp / "sockets").mkdir()
    (shared_tmp / "sockets").chmod(0o777)
    plant(other, f"ln -s {victim}/secret {shared_tmp}/sockets/dmn.port")
    env = {**base_env(), "RELEASE_TMP": str(shared_tmp), "RELEASE_COOKIE": COOKIE,
           "RELEASE_DISTRIBUTION": "name", "RELEASE_NODE": "dmn@127.0.0.1"}  # fmt: skip
    script = str(root / "bin" / "dmn")
    with subprocess.Popen([script, "start"], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as node:  # fmt: skip
        try:

            def answers() -> bool:
                pid = subprocess.run([script, "pid"], env=env, capture_output=True,
                                     text=True, timeout=30)  # fmt: skip
                return pid.stdout.strip() == str(node.pid)

            wait_until(lambda: node.poll() is not None or answers(), "the node to answer")
            unchanged(victim)
            assert node.poll() is None
            assert stat.S_IMODE((shared_tmp / "sockets").stat().st_mode) == 0o700
            port_file = shared_tmp / "sockets" / "dmn.port"
            assert not port_file.is_symlink() and port_file.read_text().isdigit()
        finally:
            node.terminate()
            node.wait(30)
    unchanged(victim)


def test_a_folder_in_release_tmp_owned_by_another_user_is_refused(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path, victim: Path
) -> None:
    shared_tmp.mkdir(mode=0o711)
    shared_tmp.chmod(0o711)
    (shared_tmp / "log").mkdir()
    os.chown(shared_tmp / "log", other.pw_uid, other.pw_gid)
    plant(other, f"ln -s {victim}/secret {shared_tmp}/log/dmn.log.1")
    d = Daemon(root, shared_tmp)
    try:
        result = d.run("daemon", RELEASE_COOKIE=COOKIE)
    finally:
        d.kill_all()
    one_error_line(result, f"{shared_tmp}/log", other.pw_name, "remove it")
    unchanged(victim)


# -- what is accepted, and the refusals' advice -------------------------------------


def test_the_second_user_runs_a_daemon_in_a_private_folder_under_sticky_tmp(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path
) -> None:
    """The sticky bit on /tmp keeps others from renaming a folder they do not own, so
    a private RELEASE_TMP of the user's own under it is safe, and accepted."""
    env = {**base_env(), "RELEASE_TMP": str(shared_tmp), "RELEASE_COOKIE": COOKIE}
    script = str(root / "bin" / "dmn")
    d = Daemon(root, shared_tmp)
    try:
        result = as_user(other, script, "daemon", env=env)
        assert result.returncode == 0, result.stderr + d.log_text()
        info = shared_tmp.stat()
        assert info.st_uid == other.pw_uid and stat.S_IMODE(info.st_mode) == 0o700
        assert (shared_tmp / "dmn.pid").stat().st_uid == other.pw_uid
        assert as_user(other, script, "stop", env=env).returncode == 0
        wait_until(lambda: not d.processes(), "the daemon to stop")
    finally:
        d.kill_all()


def test_the_second_user_is_refused_a_release_tmp_root_made(
    root: Path, other: pwd.struct_passwd, shared_tmp: Path
) -> None:
    shared_tmp.mkdir(mode=0o755)
    shared_tmp.chmod(0o755)
    env = {**base_env(), "RELEASE_TMP": str(shared_tmp), "RELEASE_COOKIE": COOKIE}
    result = as_user(other, str(root / "bin" / "dmn"), "daemon", env=env)
    Daemon(root, shared_tmp).kill_all()
    one_error_line(result, str(shared_tmp), "root", other.pw_name)
    env["RELEASE_TMP"] = str(shared_tmp / "rt")  # in root's folder: cannot be made
    result = as_user(other, str(root / "bin" / "dmn"), "daemon", env=env)
    Daemon(root, shared_tmp / "rt").kill_all()
    one_error_line(result, f"cannot create RELEASE_TMP {shared_tmp}/rt", other.pw_name)


def test_a_shared_release_tmp_is_refused(root: Path, tmp_path: Path) -> None:
    like_tmp = tmp_path / "like-tmp"  # root's, 1777: what /tmp is
    like_tmp.mkdir()
    like_tmp.chmod(0o1777)
    result = run_and_clean_up(Daemon(root, like_tmp))
    one_error_line(result, str(like_tmp), "other users", "folder of its own")
    assert not (like_tmp / "log").exists()
    open_tmp = tmp_path / "open"
    open_tmp.mkdir()
    open_tmp.chmod(0o777)
    result = run_and_clean_up(Daemon(root, open_tmp))
    one_error_line(result, str(open_tmp), f"chmod 700 {open_tmp}")
    assert not (open_tmp / "log").exists()


def test_a_parent_others_can_write_without_the_sticky_bit_is_refused(
    root: Path, tmp_path: Path
) -> None:
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(0o777)
    result = run_and_clean_up(Daemon(root, parent / "rt"))
    one_error_line(result, str(parent), "sticky")
    assert not (parent / "rt").exists()


def test_a_missing_release_tmp_is_made_private(root: Path, tmp_path: Path) -> None:
    d = Daemon(root, tmp_path / "fresh" / "rt")
    try:
        old = os.umask(0)
        try:
            d.start("daemon", RELEASE_COOKIE=COOKIE)
        finally:
            os.umask(old)
        for folder in (d.tmp.parent, d.tmp, d.tmp / "log", d.tmp / "pipe", d.tmp / "sockets"):
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
        assert d.run("stop", RELEASE_COOKIE=COOKIE).returncode == 0
        wait_until(lambda: not d.processes(), "the daemon to stop")
    finally:
        d.kill_all()
    with contextlib.suppress(ChildProcessError):
        reap()
