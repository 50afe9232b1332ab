"""Typed errors. Library code raises these; only the CLI turns them into messages."""

from __future__ import annotations


class PyreleaseError(Exception):
    """A user-facing error: one sentence naming the problem, and an optional tip."""

    def __init__(self, message: str, tip: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.tip = tip


class ConfigError(PyreleaseError):
    """The project's configuration is invalid; ``problems`` lists every issue found."""

    def __init__(self, problems: list[str], tip: str | None = None) -> None:
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems in the configuration:\n" + "\n".join(
                f"  - {p}" for p in self.problems
            )
        super().__init__(message, tip)


class BuildError(PyreleaseError):
    """Building the environment or assembling the release failed."""
