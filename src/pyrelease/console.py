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
        self.info(f"* {message}")

    def info(self, message: str = "") -> None:
        """Plain output (the closing how-to-start block).

        When the reader has gone (``pyrelease build | head -1``), the output stops
        and the work goes on: a closed pipe must not leave a build half done.
        """
        if self.quiet:
            return
        try:
            print(message, file=self.out, flush=True)
        except BrokenPipeError:
            self.quiet = True
            _silence(self.out)

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


def _silence(stream: TextIO) -> None:
    """Point ``stream`` at /dev/null, so that flushing it at exit raises nothing."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
