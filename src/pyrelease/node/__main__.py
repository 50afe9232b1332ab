"""Entry point used by ``bin/NAME``.

``bin/NAME`` runs ``python -I -S RELEASE/releases/VSN/node/pyrelease/node/__main__.py``.
Run as a script (``-I`` keeps the script's folder off ``sys.path``), so put the
folder holding the ``pyrelease`` package first, then hand over. Management
commands go to the small client module so they start fast, and leave without
the interpreter's finalization (see ``client.run``); ``eval`` goes to the
module that only boots what it needs (``evaluate``); ``start`` first starts
the release's command when it can start before the boot (``earlystart``).
"""

import sys

CLIENT_COMMANDS = ("pid", "rpc", "remote", "stop", "restart")
BOOT_COMMANDS = ("start", "start_iex", "eval")
INTERPRETER_COMMANDS = ("python", "exec")


def node_folder(path: str) -> str:
    """The folder three levels above this file (``.../node``, which holds ``pyrelease``).

    ``bin/NAME`` gives an absolute, normal path: cut it as text, so that a
    management command does not import ``os`` (see ``liteos``).
    """
    if path.startswith("/") and not any(p in path for p in ("//", "/./", "/../")):
        return path.rsplit("/", 3)[0] or "/"
    import os

    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(path))))


if __name__ == "__main__":
    sys.path.insert(0, node_folder(__file__))
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command in CLIENT_COMMANDS:
        from pyrelease.node import liteos

        liteos.enable()
        from pyrelease.node.client import run

        run(sys.argv[1:])  # does not return
    elif command in INTERPRETER_COMMANDS:
        from pyrelease.node.interp import main
    else:
        if command in BOOT_COMMANDS:
            from pyrelease.node import bootgc

            bootgc.defer()  # before the node's own imports: see bootgc.py
        if command == "start":
            from pyrelease.node import earlystart

            child = earlystart.begin()  # the command application's child, when it can
            if child is not None:  # this process is that child, a fork of the node
                bootgc.cancel()
                sys.argv[1:] = child
                command = "python"
        if command == "python":
            from pyrelease.node.interp import main
        elif command == "eval":
            from pyrelease.node.evaluate import main
        else:
            from pyrelease.node.main import main

    sys.exit(main(sys.argv[1:]))
