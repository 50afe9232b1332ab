"""The node's entry point, as processes of the node start it: the compiled one when usable.

The build writes ``__main__.pyc`` beside ``__main__.py`` (compiled by the
bundled interpreter). A script given as ``.py`` is parsed and compiled at
every run, which costs a child of the node (a command application's server,
the daemon's node, a re-executed interpreter) a few milliseconds of start-up
each time; the ``.pyc`` does not. It is used when this interpreter reads it
(its magic number is this interpreter's), so a release run by another
interpreter (no bundled runtime) keeps the source.
"""

from __future__ import annotations

import os
import sys

NODE_DIR = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(NODE_DIR, "__main__.py")
COMPILED = SOURCE + "c"


def _usable(path: str) -> bool:
    """``path`` is a ``.pyc`` this interpreter runs (its magic number is this one's)."""
    bootstrap = sys.modules.get("_frozen_importlib_external")
    magic = getattr(bootstrap, "MAGIC_NUMBER", None)
    if not magic:
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(magic)) == magic
    except OSError:
        return False


#: What to run with ``python -I -S`` to start the node's ``__main__``.
NODE_MAIN = COMPILED if _usable(COMPILED) else SOURCE
