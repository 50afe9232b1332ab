"""Safe extraction: each rule on its own, then hostile tarballs pulled for real.

A hostile tarball is put into a store as-is (a compromised store), pulled with
the real ``release-deploy``, and must be refused with nothing written outside
the root, no ``releases/VSN`` and ``current`` untouched.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from deploy_helpers import (
    add_file,
    add_special,
    build_info,
    deploy,
    make_tarball,
    publish_raw,
    snapshot,
)
from pyrelease.deploy.errors import UnsafeArchive
from pyrelease.deploy.safetar import (
    Limits,
    Tally,
    check_limits,
    check_link,
    check_mode,
    check_path,
    check_type,
    safe_extract,
)


def member(name: str, kind: bytes = tarfile.REGTYPE, **attrs: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in attrs.items():
        setattr(info, key, value)
    return info


@pytest.mark.parametrize("name", ["/etc/passwd", "a/../../x", "..", "../x", "a/..", "C:/x", ""])
def test_check_path_refuses(name: str) -> None:
    with pytest.raises(UnsafeArchive):
        check_path(member(name))


@pytest.mark.parametrize("name", ["bin/demo", "lib/a..b/c", "releases/1.0.0/x.json", "./x"])
def test_check_path_accepts(name: str) -> None:
    check_path(member(name))


@pytest.mark.parametrize(
    ("kind", "word"),
    [(tarfile.CHRTYPE, "device"), (tarfile.BLKTYPE, "device"), (tarfile.FIFOTYPE, "FIFO"),
     (b"V", "special")],
)  # fmt: skip
def test_check_type_refuses_special_files(kind: bytes, word: str) -> None:
    with pytest.raises(UnsafeArchive, match=word):
        check_type(member("x", kind))


def test_check_type_accepts_files_dirs_links() -> None:
    for kind in (tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE):
        check_type(member("x", kind))


@pytest.mark.parametrize("mode", [0o4755, 0o2755, 0o6755])
def test_check_mode_refuses_setuid_and_setgid(mode: int) -> None:
    with pytest.raises(UnsafeArchive, match="setuid"):
        check_mode(member("x", mode=mode))


def test_check_mode_accepts_plain_modes() -> None:
    check_mode(member("x", mode=0o755))
    check_mode(member("x", mode=0o1777))


@pytest.mark.parametrize(
    ("name", "kind", "target"),
    [
        ("lib/evil", tarfile.SYMTYPE, "../../etc"),
        ("evil", tarfile.SYMTYPE, "/etc/passwd"),
        ("a/b/evil", tarfile.SYMTYPE, "../../../x"),
        ("evil", tarfile.LNKTYPE, "../etc/passwd"),
        ("evil", tarfile.LNKTYPE, "/etc/passwd"),
        ("evil", tarfile.LNKTYPE, "a/../../x"),
    ],
)
def test_check_link_refuses_links_leaving_the_release(name: str, kind: bytes, target: str) -> None:
    with pytest.raises(UnsafeArchive):
        check_link(member(name, kind, linkname=target))


def test_check_link_accepts_links_inside() -> None:
    check_link(member("runtime/bin/python3", tarfile.SYMTYPE, linkname="python3.11"))
    check_link(member("a/b/c", tarfile.SYMTYPE, linkname="../d"))
    check_link(member("a/x", tarfile.LNKTYPE, linkname="a/y"))


def test_check_limits_counts_members_and_bytes() -> None:
    tally, limits = Tally(), Limits(max_members=2, max_bytes=100)
    check_limits(member("a", size=60), tally, limits)
    check_limits(member("b", tarfile.DIRTYPE), tally, limits)
    with pytest.raises(UnsafeArchive, match="more than 2 members"):
        check_limits(member("c"), tally, limits)
    with pytest.raises(UnsafeArchive, match="more than 100 bytes"):
        check_limits(member("big", size=101), Tally(), limits)


def test_safe_extract_unpacks_a_sound_release(tmp_path: Path) -> None:
    tarball = make_tarball(
        tmp_path / "ok.tar.gz",
        members=[add_file("lib/x/mod.py", b"print(1)\n"),
                 add_special("lib/x/link.py", tarfile.SYMTYPE, "mod.py")],
    )  # fmt: skip
    dest = tmp_path / "dest"
    dest.mkdir()
    safe_extract(tarball, dest, Limits())
    assert (dest / "lib/x/link.py").read_text() == "print(1)\n"
    assert (dest / "bin/demo").stat().st_mode & 0o100


# --------------------------------------------------------------------------- hostile pulls


def _deep(n: int = 12) -> str:
    return "../" * n


HOSTILE = {
    "traversal": ([add_file(_deep() + "OUTSIDE/owned.txt", b"pwned")], "contains '..'"),
    "absolute": ([add_file("{outside}/owned.txt", b"pwned")], "absolute path"),
    "symlink escape": (
        [
            add_special("lib/evil", tarfile.SYMTYPE, _deep()[:-1] + "{outside}"),
            add_file("lib/evil/owned.txt", b"pwned"),
        ],
        "points outside",
    ),
    "absolute symlink": (
        [
            add_special("lib/evil", tarfile.SYMTYPE, "{outside}"),
            add_file("lib/evil/owned.txt", b"pwned"),
        ],
        "absolute path",
    ),
    "hard link escape": (
        [add_special("lib/evil", tarfile.LNKTYPE, _deep() + "{outside}/victim.txt")],
        "points outside",
    ),
    "device": ([add_special("dev/mem", tarfile.CHRTYPE)], "device file"),
    "fifo": ([add_special("tmp/fifo", tarfile.FIFOTYPE)], "FIFO"),
    "setuid": ([add_file("bin/su", b"#!/bin/sh\n", 0o4755)], "setuid"),
    "many files": ([add_file(f"lib/f{i}", b"") for i in range(60)], "more than 50 members"),
    "huge member": ([add_file("lib/zeros", bytes(3_000_000))], "more than 2000000 bytes"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_tarball_is_refused_and_nothing_is_written(tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim.txt").write_text("keep me")
    members, message = HOSTILE[case]
    members = [_with_outside(m, outside) for m in members]
    store, root = tmp_path / "store", tmp_path / "srv" / "demo"
    good = make_tarball(tmp_path / "good.tar.gz", build_info(version="1.0.0"))
    publish_raw(store, good, build_info(version="1.0.0"))
    assert deploy("pull", "--from", store, "--root", root).returncode == 0
    bad_info = build_info(version="2.0.0")
    bad = make_tarball(tmp_path / "bad.tar.gz", bad_info, members, fast=True)
    publish_raw(store, bad, bad_info)
    before = snapshot(tmp_path, skip=root)

    result = deploy("pull", "--from", store, "--root", root, "--max-files", "50",
                    "--max-bytes", "2000000")  # fmt: skip

    assert result.returncode == 1, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stderr.startswith("ERROR: ") and "Traceback" not in result.stderr
    assert snapshot(tmp_path, skip=root) == before  # nothing written outside the root
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["1.0.0"]
    assert (root / "current").readlink() == Path("releases/1.0.0")
    assert not list((root / ".downloads").iterdir())


def _with_outside(add, outside: Path):  # type: ignore[no-untyped-def]
    """Fill ``{outside}`` in the member's names (absolute path without its leading /)."""

    def wrapped(tar: tarfile.TarFile) -> None:
        real_addfile = tar.addfile

        def addfile(info: tarfile.TarInfo, fileobj=None) -> None:  # type: ignore[no-untyped-def]
            text = str(outside)
            info.name = info.name.replace("{outside}", text)
            if info.name.startswith("../"):
                info.name = info.name.replace("//", "/")
            info.linkname = info.linkname.replace(
                "{outside}", text.lstrip("/") if info.linkname.startswith(".") else text
            )
            real_addfile(info, fileobj)

        tar.addfile = addfile  # type: ignore[method-assign]
        try:
            add(tar)
        finally:
            del tar.addfile

    return wrapped


def test_push_refuses_a_hostile_tarball(tmp_path: Path) -> None:
    bad = make_tarball(tmp_path / "demo-2.0.0.tar.gz", build_info(version="2.0.0"),
                       [add_special("dev/mem", tarfile.CHRTYPE)])  # fmt: skip
    result = deploy("push", bad, "--to", tmp_path / "store")
    assert result.returncode == 1
    assert "device file" in result.stderr
    assert not (tmp_path / "store").exists()
