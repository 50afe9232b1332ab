"""The rules for runtime files (``pyrelease.node.safefiles``), one small function
each: what is refused, what is repaired, and that no link is ever followed.
Ownership by another user is made with ``chown`` to an unused uid (root only);
``tests/test_tmp_safety.py`` plays the same attacks end to end with a real user."""

from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from pyrelease.node import cookie, safefiles
from pyrelease.node.safefiles import UnsafePath

STRANGER = 54321  # a uid nobody on the machine has
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to another uid")


@pytest.fixture
def target(tmp_path: Path) -> Path:
    path = tmp_path / "target"
    path.write_text("keep me\n")
    return path


def folder(path: Path, mode: int = 0o700) -> Path:
    path.mkdir()
    path.chmod(mode)
    return path


# -- files ---------------------------------------------------------------------------


def test_open_private_replaces_a_link_never_writing_through_it(
    tmp_path: Path, target: Path
) -> None:
    (tmp_path / "f").symlink_to(target)
    fd = safefiles.open_private(str(tmp_path / "f"), os.O_WRONLY | os.O_TRUNC)
    os.write(fd, b"new")
    os.close(fd)
    assert target.read_text() == "keep me\n"
    assert not (tmp_path / "f").is_symlink() and (tmp_path / "f").read_text() == "new"


def test_open_private_replaces_a_hard_link_and_a_fifo(tmp_path: Path, target: Path) -> None:
    os.link(target, tmp_path / "hard")
    os.mkfifo(tmp_path / "fifo")
    for name in ("hard", "fifo"):
        os.close(safefiles.open_private(str(tmp_path / name), os.O_WRONLY | os.O_TRUNC))
        info = (tmp_path / name).lstat()
        assert stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and info.st_size == 0
    assert target.read_text() == "keep me\n"


@as_root
def test_open_private_replaces_another_users_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("theirs")
    os.chown(tmp_path / "f", STRANGER, STRANGER)
    os.close(safefiles.open_private(str(tmp_path / "f")))
    assert (tmp_path / "f").stat().st_uid == os.geteuid()
    assert (tmp_path / "f").read_text() == ""


def test_open_private_keeps_our_own_file_and_truncates_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("ours")
    inode = (tmp_path / "f").stat().st_ino
    os.close(safefiles.open_private(str(tmp_path / "f"), os.O_RDWR))
    assert (tmp_path / "f").read_text() == "ours" and (tmp_path / "f").stat().st_ino == inode
    os.close(safefiles.open_private(str(tmp_path / "f"), os.O_WRONLY | os.O_TRUNC))
    assert (tmp_path / "f").read_text() == ""


def test_open_private_refuses_a_folder_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "f").mkdir()
    with pytest.raises(UnsafePath, match="is a folder, where the node keeps a file: remove it"):
        safefiles.open_private(str(tmp_path / "f"))


def test_write_atomic_replaces_a_link_and_leaves_nothing_aside(
    tmp_path: Path, target: Path
) -> None:
    (tmp_path / "x.pid").symlink_to(target)
    safefiles.write_atomic(str(tmp_path / "x.pid"), b"123\n", 0o644)
    assert target.read_text() == "keep me\n"
    assert (tmp_path / "x.pid").read_text() == "123\n" and not (tmp_path / "x.pid").is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["target", "x.pid"]


def test_create_new_never_replaces_anything_not_even_a_dangling_link(tmp_path: Path) -> None:
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    assert not safefiles.create_new(str(tmp_path / "dangling"), b"x")
    assert not (tmp_path / "nowhere").exists()
    assert safefiles.create_new(str(tmp_path / "new"), b"secret", 0o400)
    assert not safefiles.create_new(str(tmp_path / "new"), b"other")
    assert (tmp_path / "new").read_text() == "secret"
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o400
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dangling", "new"]


def _first_start(root: str, barrier: multiprocessing.synchronize.Barrier,
                 results: multiprocessing.Queue) -> None:  # fmt: skip
    os.environ.pop("RELEASE_COOKIE", None)
    barrier.wait()
    results.put(cookie.ensure_cookie(root))


def test_nodes_making_the_cookie_at_once_all_end_with_the_one_in_the_file(tmp_path: Path) -> None:
    """A cookie file is never seen empty: before, one node in a race could read it
    between its creation and its write, and go on with a cookie nobody else had."""
    forked = multiprocessing.get_context("fork")
    for round_ in range(30):
        root = tmp_path / f"r{round_}"
        (root / "releases").mkdir(parents=True)
        barrier, results = forked.Barrier(8), forked.Queue()
        procs = [forked.Process(target=_first_start, args=(str(root), barrier, results))
                 for _ in range(8)]  # fmt: skip
        for p in procs:
            p.start()
        seen = {results.get(timeout=60) for _ in procs}
        for p in procs:
            p.join(60)
        assert seen == {(root / "releases" / "COOKIE").read_text()}, f"round {round_}"


# -- RELEASE_TMP and its folders ----------------------------------------------------


def test_a_missing_release_tmp_is_made_private_under_a_sticky_parent(tmp_path: Path) -> None:
    sticky = folder(tmp_path / "sticky", 0o1777)
    safefiles.check_tmp(str(sticky / "a" / "b"))
    for path in (sticky / "a", sticky / "a" / "b"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_a_parent_writable_by_its_group_without_sticky_bit_is_refused(tmp_path: Path) -> None:
    parent = folder(tmp_path / "group", 0o775)
    with pytest.raises(UnsafePath, match=f"{parent}, a parent of RELEASE_TMP .* no sticky bit"):
        safefiles.check_tmp(str(parent / "rt"))
    assert not (parent / "rt").exists()


def test_a_link_of_ours_on_the_way_is_followed_and_checked(tmp_path: Path) -> None:
    real = folder(tmp_path / "real")
    (tmp_path / "link").symlink_to("real")
    safefiles.check_tmp(str(tmp_path / "link"))
    real.chmod(0o777)
    with pytest.raises(UnsafePath, match=rf"RELEASE_TMP {tmp_path}/link \({real}\) can be written"):
        safefiles.check_tmp(str(tmp_path / "link"))


@as_root
def test_a_link_or_folder_of_another_user_on_the_way_is_refused(tmp_path: Path) -> None:
    theirs = folder(tmp_path / "theirs", 0o755)
    os.chown(theirs, STRANGER, STRANGER)
    with pytest.raises(UnsafePath, match=f"the folder {theirs}, on the way .* uid {STRANGER}"):
        safefiles.check_tmp(str(theirs / "rt"))
    folder(tmp_path / "ours")
    (tmp_path / "planted").symlink_to(tmp_path / "ours")
    os.lchown(tmp_path / "planted", STRANGER, STRANGER)
    with pytest.raises(UnsafePath, match=f"the symbolic link {tmp_path}/planted"):
        safefiles.check_tmp(str(tmp_path / "planted"))


def test_the_folder_a_link_ends_in_is_the_one_checked(tmp_path: Path) -> None:
    folder(tmp_path / "sub")
    (tmp_path / "up").symlink_to("sub/..")  # ends in tmp_path itself
    tmp_path.chmod(0o777)
    with pytest.raises(UnsafePath, match=rf"RELEASE_TMP {tmp_path}/up \({tmp_path}\) can be"):
        safefiles.check_tmp(str(tmp_path / "up"))
    tmp_path.chmod(0o700)
    safefiles.check_tmp(str(tmp_path / "up"))


def test_a_release_tmp_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(UnsafePath, match="is not a folder"):
        safefiles.check_tmp(str(tmp_path / "file" / "rt"))


def test_check_tmp_without_create_leaves_a_missing_folder_missing(tmp_path: Path) -> None:
    safefiles.check_tmp(str(tmp_path / "absent"), create=False)
    assert not (tmp_path / "absent").exists()


def test_private_dir_closes_an_open_folder_and_removes_what_others_put_in_it(
    tmp_path: Path, target: Path
) -> None:
    log = folder(tmp_path / "log", 0o777)
    (log / "mine").write_text("")
    (log / "planted").symlink_to(target)
    if os.geteuid() == 0:
        os.lchown(log / "planted", STRANGER, STRANGER)
    safefiles.private_dir(str(log))
    assert stat.S_IMODE(log.stat().st_mode) == 0o700
    expected = ["mine"] if os.geteuid() == 0 else ["mine", "planted"]
    assert sorted(p.name for p in log.iterdir()) == expected
    assert target.read_text() == "keep me\n"


def test_private_dir_refuses_a_link_in_place_of_the_folder(tmp_path: Path) -> None:
    folder(tmp_path / "elsewhere", 0o755)
    (tmp_path / "log").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(UnsafePath, match=f"{tmp_path}/log is not a folder .*: remove it"):
        safefiles.private_dir(str(tmp_path / "log"))
    assert stat.S_IMODE((tmp_path / "elsewhere").stat().st_mode) == 0o755
