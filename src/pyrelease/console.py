"""The one console for user output: progress, warnings, prompts."""

from __future__ import annotations

import sys
from typing import TextIO


class Console:
    """Writes progress to ``out`` (silenced by ``quiet``) and warnings to ``err``.

    Tests pass their own streams; ``interactive`` says whether prompts may be asked.
    """

    def __init__(
        self,
        *,
        quiet: bool = False,
        out: TextIO | None = None,
        err: TextIO | None = None,
        inp: TextIO | None = None,
        interactive: bool | None = None,
    ) -> None:
        self.quiet = quiet
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.inp = inp or sys.stdin
        self.interactive = self.inp.isatty() if interactive is None else interactive

    def step(self, message: str) -> None:
        """A progress line, ``* message``, as ``mix release`` prints."""
        if not self.quiet:
            print(f"* {message}", file=self.out, flush=True)

    def info(self, message: str = "") -> None:
        """Plain output (the closing how-to-start block)."""
        if not self.quiet:
            print(message, file=self.out, flush=True)

    def warn(self, message: str) -> None:
        """A warning on stderr, shown even when quiet."""
        print(f"warning: {message}", file=self.err, flush=True)

    def confirm(self, question: str) -> bool:
        """Ask a yes/no question whose empty answer is yes (``[Yn]``)."""
        print(f"{question} [Yn] ", end="", file=self.out, flush=True)
        answer = self.inp.readline()
        if not answer:
            return False
        return answer.strip().lower() in ("", "y", "yes")
