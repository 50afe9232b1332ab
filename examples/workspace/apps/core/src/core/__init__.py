"""Shared code of the example workspace: what web and worker both use."""

VERSION = "0.1.0"


def greeting(who: str) -> str:
    """The greeting both applications print."""
    return f"Hello, {who}, from core {VERSION}"
