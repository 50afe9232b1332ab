"""``python -m pyrelease``: the same as the ``pyrelease`` command."""

from pyrelease.cli import run

run()
