"""Entry point used by ``bin/NAME``.

``bin/NAME`` runs ``python -I -S RELEASE/releases/VSN/node/pyrelease/node/__main__.py``.

Run as a script (``-I`` keeps the script's folder off ``sys.path``), so put the
folder holding the ``pyrelease`` package first, then hand over to ``main``.
"""

import os
import sys

if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    from pyrelease.node.main import main

    sys.exit(main(sys.argv[1:]))
