"""The release's interpreter reads a command line as CPython does."""

from __future__ import annotations

import pytest

from pyrelease.node import pyargs


@pytest.mark.parametrize(
    ("argv", "kind", "target", "args", "startup"),
    [
        ([], "repl", "", [], []),
        (["-c", "print(1)", "-x"], "c", "print(1)", ["-x"], []),
        (["-Bc", "code"], "c", "code", [], ["-B"]),
        (["-ccode", "a"], "c", "code", ["a"], []),
        (["-I", "-S", "-m", "pkg.mod", "--opt"], "m", "pkg.mod", ["--opt"], []),
        (["-OO", "-Xdev", "-W", "error", "script.py", "-O"], "script", "script.py", ["-O"],
         ["-O", "-O", "-X", "dev", "-W", "error"]),
        (["-", "a"], "stdin", "-", ["a"], []),
        (["--", "-odd.py", "x"], "script", "-odd.py", ["x"], []),
        (["--check-hash-based-pycs", "always", "s.py"], "script", "s.py", [],
         ["--check-hash-based-pycs", "always"]),
    ],
)  # fmt: skip
def test_parse(
    argv: list[str], kind: str, target: str, args: list[str], startup: list[str]
) -> None:
    parsed = pyargs.parse(argv)
    assert (parsed.kind, parsed.target, parsed.args, parsed.startup) == (
        kind,
        target,
        args,
        startup,
    )


def test_local_flags() -> None:
    parsed = pyargs.parse(["-uiq", "-c", "x"])
    assert parsed.unbuffered and parsed.inspect and parsed.quiet


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["-Z"], "Unknown option: -Z"), (["-c"], "Argument expected for the -c option"),
     (["--nope"], "Unknown option: --nope"), (["-X"], "Argument expected for the -X option")],
)  # fmt: skip
def test_refused(argv: list[str], message: str) -> None:
    with pytest.raises(pyargs.UsageError, match=message):
        pyargs.parse(argv)


def test_in_effect_compares_with_this_interpreter() -> None:
    assert pyargs.in_effect([])
    assert not pyargs.in_effect(["-X", "surely_not_set_option"])
    assert not pyargs.in_effect(["-O"] * 3)
