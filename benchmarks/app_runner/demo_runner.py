"""Run the demo service outside pyrelease: the entry point of the venv, pex, shiv
and PyInstaller builds.

It does what a pyrelease node does for the demo release, minus the node: it
starts ``demo.app:start`` in a thread with a small context object (the same
attributes as the node's: ``config``, ``release``, ``stopping``, ``on_stop``,
``ready``), waits for ``ready()``, starts ``demo_extra``, and on SIGTERM or
SIGINT runs the ``on_stop`` callbacks (newest first, applications in reverse
start order) and exits 0. ``PORT`` sets the port, as ``config/runtime.py`` does
for the release. Standard library only, imports the app statically so that
PyInstaller finds it (``demo.views`` is lazy and passed as a hidden import).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import types

import demo
import demo.app
import demo_extra


class Context:
    """What ``start(ctx)`` receives from a pyrelease node."""

    def __init__(self, config: dict) -> None:
        self.config = config
        self.release = types.SimpleNamespace(
            name="demo", version=demo.__version__, root=os.getcwd()
        )
        self.stopping = threading.Event()
        self._callbacks: list = []
        self._ready = threading.Event()

    def on_stop(self, fn) -> None:
        self._callbacks.append(fn)

    def ready(self) -> None:
        self._ready.set()

    def stop(self) -> None:
        self.stopping.set()
        for fn in reversed(self._callbacks):
            fn()


def main() -> int:
    began = time.monotonic()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    # The demo's build-time config (config/config.py + prod.py) and runtime.py, by hand.
    app_ctx = Context(
        {"host": "127.0.0.1", "greeting": "Hello", "port": int(os.environ.get("PORT", "4000"))}
    )
    server = threading.Thread(target=demo.app.start, args=(app_ctx,), name="demo")
    server.start()
    while not app_ctx._ready.wait(0.05):
        if not server.is_alive():
            print("[runner] demo ended before it was ready", flush=True)
            return 1
    extra_ctx = Context({})
    demo_extra.start(extra_ctx)
    print(f"[runner] demo started in {(time.monotonic() - began) * 1000:.0f} ms", flush=True)
    stop.wait()
    extra_ctx.stop()
    app_ctx.stop()
    server.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
