"""Start, watch and stop the release's applications.

The contract (see ``docs/applications.md``): ``start(ctx)`` runs in its own
thread. Returning ``None`` means the application ended normally, raising means
it ended abnormally, returning any other object means it runs until the node
stops it. A start callable that blocks (a server loop) calls ``ctx.ready()``
once it serves; the next application starts after ``ready()`` or a return.

What the node does when an application ends depends on its mode, as in OTP:

=========== ========================= ===========================
mode        ends normally             ends abnormally
=========== ========================= ===========================
permanent   node stops, exit 0        node stops, exit 1
transient   logged, node goes on      node stops, exit 1
temporary   logged, node goes on      logged, node goes on
=========== ========================= ===========================
"""

from __future__ import annotations

import importlib
import queue
import threading
from collections.abc import Callable

from pyrelease.node.manifest import AppEntry

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

STARTED_MODES = ("permanent", "transient", "temporary")


class ReleaseInfo:
    """What an application knows about the release it runs in."""

    __slots__ = ("env", "name", "root", "version")

    def __init__(self, name: str, version: str, root: str, env: str) -> None:
        self.name, self.version, self.root, self.env = name, version, root, env


class Context:
    """The single argument given to an application's start callable."""

    def __init__(self, name: str, release: ReleaseInfo, config: dict[str, Any]) -> None:
        self.name = name
        self.release = release
        self.config = config
        self.stopping = threading.Event()
        self._callbacks: list[Callable[[], object]] = []
        self._ready = threading.Event()
        # Set by ready() and when start returns or raises: the node waits on it.
        self._wake = threading.Event()

    def on_stop(self, fn: Callable[[], object]) -> Callable[[], object]:
        """Register ``fn`` to run when the node stops this application (newest first)."""
        self._callbacks.append(fn)
        return fn

    def ready(self) -> None:
        """Tell the node this application is serving; the next one may start."""
        self._ready.set()
        self._wake.set()


def resolve(ref: str) -> Callable[[Context], Any]:
    """Import ``module:callable``."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Application:
    """One started application: its context, thread and outcome."""

    def __init__(self, entry: AppEntry, ctx: Context) -> None:
        self.entry = entry
        self.ctx = ctx
        self.outcome = "starting"  # → running | normal | abnormal
        self.error: BaseException | None = None
        self.state: Any = None
        self.thread: threading.Thread | None = None


class Controller:
    """Owns the applications; reports ends on ``events`` for the node's main loop."""

    def __init__(
        self,
        entries: tuple[AppEntry, ...],
        config: dict[str, Any],
        release: ReleaseInfo,
        log: Callable[[str], None],
        events: queue.SimpleQueue[tuple[str, Any]],
    ) -> None:
        self.entries = [e for e in entries if e.mode in STARTED_MODES and e.start]
        self.config = config
        self.release = release
        self.log = log
        self.events = events
        self.started: list[Application] = []

    def start_all(self) -> Application | None:
        """Start applications in order; return the first that failed to start, if any.

        A temporary application that fails to start is logged and skipped.
        """
        for entry in self.entries:
            app = self._start(entry)
            if app.outcome == "abnormal" and entry.mode != "temporary":
                return app
        return None

    def _start(self, entry: AppEntry) -> Application:
        ctx = Context(entry.key, self.release, dict(self.config.get(entry.key, {})))
        app = Application(entry, ctx)
        app.thread = threading.Thread(target=self._run, args=(app,), name=f"app:{entry.name}")
        app.thread.daemon = True
        self.started.append(app)
        app.thread.start()
        ctx._wake.wait()
        if app.outcome in ("starting", "running"):
            self.log(f"application {entry.name} started ({entry.mode})")
        return app

    def _run(self, app: Application) -> None:
        try:
            fn = resolve(app.entry.start or "")
            result = fn(app.ctx)
        except BaseException as exc:
            app.outcome, app.error = "abnormal", exc
            if getattr(exc, "clear_message", False):  # one sentence says it all (commandapp)
                self.log(f"application {app.entry.name} failed: {exc}")
            else:
                import traceback  # only when something crashed: keeps boot light

                self.log(
                    f"application {app.entry.name} crashed:\n"
                    + "".join(traceback.format_exception(exc)).rstrip()
                )
        else:
            if result is None:
                app.outcome = "normal"
            else:
                app.outcome, app.state = "running", result
        finally:
            app.ctx._wake.set()
        if app.outcome in ("normal", "abnormal") and not app.ctx.stopping.is_set():
            self.events.put(("ended", app))

    def stop_all(self, timeout: float) -> None:
        """Stop applications in reverse start order, each within ``timeout`` seconds."""
        for app in reversed(self.started):
            self.stop(app, timeout)
        self.started.clear()

    def stop(self, app: Application, timeout: float) -> None:
        """Set ``stopping``, run the stop callbacks newest first, wait for the thread."""
        if app.ctx.stopping.is_set():
            return
        app.ctx.stopping.set()
        for fn in reversed(app.ctx._callbacks):
            try:
                fn()
            except Exception as exc:
                self.log(f"application {app.entry.name}: stop callback failed: {exc!r}")
        if app.thread is not None and app.thread is not threading.current_thread():
            app.thread.join(timeout)
            if app.thread.is_alive():
                self.log(f"application {app.entry.name} did not stop within {timeout:g}s")
        self.log(f"application {app.entry.name} stopped")


def decide(app: Application) -> int | None:
    """What the node does when ``app`` ended: an exit status, or ``None`` to go on."""
    mode, normal = app.entry.mode, app.outcome == "normal"
    status = getattr(app.error, "exit_status", 1)  # a command's own status (commandapp)
    if mode == "permanent":
        return 0 if normal else status
    if mode == "transient" and not normal:
        return status
    return None
