"""The one place a command's errors become messages and exit statuses.

A user error (:class:`PyreleaseError`) is reported by the caller's
``on_error`` and exits 1; Ctrl-C exits 130; anything else is a bug: its
traceback, one ``ERROR:`` line, exit 2 (``PYRELEASE_DEBUG`` re-raises it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from pyrelease.errors import PyreleaseError

T = TypeVar("T")


def run(
    action: Callable[[], T],
    on_error: Callable[[PyreleaseError], None],
    bug: str,
    on_bug: Callable[[str], None] | None = None,
) -> T:
    """Run ``action`` and return its result, or exit with the status above.

    ``bug`` is the sentence shown for an unexpected exception; ``on_bug``
    may report it elsewhere too (a GitHub annotation).
    """
    try:
        return action()
    except PyreleaseError as exc:
        sys.stdout.flush()
        on_error(exc)
        sys.exit(1)
    except KeyboardInterrupt:
        click.echo("ERROR: interrupted", err=True)
        sys.exit(130)
    except Exception:
        if os.environ.get("PYRELEASE_DEBUG"):
            raise
        import traceback

        traceback.print_exc()
        if on_bug is not None:
            on_bug(bug)
        click.echo(f"ERROR: {bug}", err=True)
        sys.exit(2)
