"""vm.args parsing: what users may write, and clear errors for what they may not."""

from __future__ import annotations

import pytest

from pyrelease.node.vmargs import VmArgsError, parse


def test_comments_and_blank_lines_mean_no_settings() -> None:
    args = parse("## comment\n\n# -X importtime\n")
    assert args.interpreter == []
    assert not args.needs_reexec()


def test_interpreter_flags_and_settings() -> None:
    args = parse(
        "-X faulthandler\n-W error::DeprecationWarning\n-O\n--hash-seed 0\n"
        "--recursion-limit 5000\n--gc-threshold 700,10,10\n--switch-interval 0.01\n"
        "--shutdown-timeout 3\n--boot-gc normal\n"
    )
    assert args.interpreter == ["-X", "faulthandler", "-W", "error::DeprecationWarning", "-O"]
    assert args.hash_seed == "0"
    assert args.recursion_limit == 5000
    assert args.gc_threshold == (700, 10, 10)
    assert args.switch_interval == 0.01
    assert args.shutdown_timeout == 3.0
    assert args.boot_gc == "normal"
    assert parse("").boot_gc == "defer"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("--bogus 1", "unknown or incomplete setting '--bogus 1'"),
        ("-X", "unknown or incomplete setting '-X'"),
        ("--recursion-limit many", "'many' is not a number"),
        ("--shutdown-timeout -1", "must not be negative"),
        ("--boot-gc sometimes", "unknown or incomplete setting '--boot-gc sometimes'"),
    ],
)
def test_bad_lines_name_the_line(text: str, fragment: str) -> None:
    with pytest.raises(VmArgsError) as info:
        parse("# ok\n" + text, "vm.args")
    assert "vm.args line 2" in str(info.value)
    assert fragment in str(info.value)
