"""Start, watch and stop the release's applications.

The contract (see ``docs/applications.md``): ``start(ctx)`` runs in its own
thread. Returning ``None`` means the application ended normally, raising means
it ended abnormally, returning any other object means it runs until the node
stops it. A start callable that blocks (a server loop) calls ``ctx.ready()``
once it serves; the next application starts after ``ready()`` or a return.
Stopping runs an application's ``on_stop`` callbacks in a thread of their own
and waits for its start to return, the whole bounded by the shutdown timeout.

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
import threading
import time
from _queue import Empty  # queue.Empty, without queue.py and heapq (0.5 ms of boot)
from collections.abc import Callable

from pyrelease.node import notify
from pyrelease.node.manifest import AppEntry

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    import queue
    from typing import Any

STARTED_MODES = ("permanent", "transient", "temporary")

# A start that neither returns nor calls ready() for this long gets one hint in the log.
READY_HINT_AFTER = 5.0


class StopRequested(KeyboardInterrupt):
    """A stop arrived while the node was booting or starting its applications.

    A kind of ``KeyboardInterrupt``, so that the code it interrupts (a runtime
    config, a module being preloaded) lets it through as it would Ctrl-C.
    """

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


class ReleaseInfo:
    """What an application knows about the release it runs in."""

    __slots__ = ("env", "name", "root", "version")

    def __init__(self, name: str, version: str, root: str, env: str) -> None:
        self.name, self.version, self.root, self.env = name, version, root, env


class Context:
    """The single argument given to an application's start callable."""

    def __init__(
        self,
        name: str,
        release: ReleaseInfo,
        config: dict[str, Any],
        wake: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.release = release
        self.config = config
        self.stopping = threading.Event()
        self._callbacks: list[Callable[[], object]] = []
        self._ready = threading.Event()
        # Called by ready() and when start returns or raises: the node waits for it.
        self._wake = wake or (lambda: None)

    def on_stop(self, fn: Callable[[], object]) -> Callable[[], object]:
        """Register ``fn`` to run when the node stops this application (newest first)."""
        self._callbacks.append(fn)
        return fn

    def ready(self) -> None:
        """Tell the node this application is serving; the next one may start."""
        if not self._ready.is_set():
            self._ready.set()
            self._wake()


class StartCallableError(Exception):
    """A start callable cannot be loaded: its module or its name is missing."""


def resolve(ref: str) -> Callable[[Context], Any]:
    """Import ``module:callable``; a missing module or name raises ``StartCallableError``.

    Errors raised by the module's own code while it is imported propagate as they are.
    """
    module, _, attr = ref.partition(":")
    setting = "set by `mod` in [tool.pyrelease] or a `pyrelease.application` entry point"
    try:
        obj: Any = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if not exc.name or not (module == exc.name or module.startswith(exc.name + ".")):
            raise  # a module imported by the start module is missing: its traceback helps
        raise StartCallableError(
            f"cannot load its start callable {ref} ({setting}): there is no module {exc.name}"
        ) from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise StartCallableError(
                f"cannot load its start callable {ref} ({setting}): "
                f"{getattr(obj, '__name__', module)} has no attribute {part}"
            ) from None
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
    """Owns the applications; reports on ``events`` for the node's main loop.

    Events are ``("woke", app)`` when an application called ``ready()`` or its
    start returned or raised, and ``("ended", app)`` when it ended by itself.
    They share the node's queue with its signals (``("signal", signum)``) and
    requests (``("stop", None)``, ``("restart", …)``), so a stop is noticed while
    an application is still starting.
    """

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

        Raise :class:`StopRequested` when a stop comes meanwhile: the
        applications started so far, the one starting included, are in
        ``started``. A temporary application that fails to start is logged and
        skipped. Other events that come meanwhile are put back for the main loop.
        """
        later: list[tuple[str, Any]] = []
        try:
            for entry in self.entries:
                app = self._launch(entry)
                self._wait(app, later)
                if app.outcome in ("starting", "running"):
                    self.log(f"application {entry.name} started ({entry.mode})")
                elif app.outcome == "abnormal" and entry.mode != "temporary":
                    return app
            return None
        finally:
            for event in later:
                self.events.put(event)

    def _wait(self, app: Application, later: list[tuple[str, Any]]) -> None:
        """Wait until ``app`` woke; after ``READY_HINT_AFTER`` s, say once what to do."""
        hint_at: float | None = time.monotonic() + READY_HINT_AFTER
        while True:
            try:
                timeout = None if hint_at is None else max(0.0, hint_at - time.monotonic())
                kind, payload = self.events.get(timeout=timeout)
            except Empty:
                hint_at = None
                self._hint(app)
                continue
            if kind == "signal":
                import signal

                raise StopRequested(signal.Signals(payload).name)
            if kind == "stop":
                raise StopRequested("a stop request")
            if kind != "woke":
                later.append((kind, payload))
            elif payload is app:
                if hint_at is None:
                    notify.notify("STATUS=")
                return

    def _hint(self, app: Application) -> None:
        """One line on a start that neither returned nor called ``ready()``."""
        name = app.entry.name
        self.log(
            f"application {name} has neither returned from its start nor called ctx.ready() "
            f"after {READY_HINT_AFTER:g}s; the node is not ready until it does. If its start "
            "blocks to serve (uvicorn.run, serve_forever), call ctx.ready() once it serves "
            "(or run the server in a thread and return)"
        )
        notify.notify(
            f"STATUS=application {name} has neither returned from its start nor called ctx.ready()"
        )

    def _launch(self, entry: AppEntry) -> Application:
        ctx = Context(entry.key, self.release, dict(self.config.get(entry.key, {})))
        app = Application(entry, ctx)
        ctx._wake = lambda: self.events.put(("woke", app))
        app.thread = threading.Thread(target=self._run, args=(app,), name=f"app:{entry.name}")
        app.thread.daemon = True
        self.started.append(app)
        app.thread.start()
        return app

    def _run(self, app: Application) -> None:
        try:
            fn = resolve(app.entry.start or "")
            result = fn(app.ctx)
        except StartCallableError as exc:
            app.outcome, app.error = "abnormal", exc
            self.log(f"application {app.entry.name}: {exc}")
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
            if not app.ctx._ready.is_set():
                app.ctx._ready.set()
                self.events.put(("woke", app))
        if app.outcome in ("normal", "abnormal") and not app.ctx.stopping.is_set():
            self.events.put(("ended", app))

    def stop_all(self, timeout: float) -> list[str]:
        """Stop applications in reverse start order, each within ``timeout`` seconds;
        return the names of those that did not stop in time."""
        stuck = [app.entry.name for app in reversed(self.started) if not self.stop(app, timeout)]
        self.started.clear()
        return stuck

    def stop(self, app: Application, timeout: float) -> bool:
        """Set ``stopping``, run the stop callbacks newest first, wait for the thread.

        The callbacks run in a thread of their own, so that the whole stop
        (callbacks, then the start callable's return) is bounded by ``timeout``;
        False when it did not finish in time (the node then gives up on it).
        """
        if app.ctx.stopping.is_set():
            return True
        app.ctx.stopping.set()
        name = app.entry.name
        deadline = time.monotonic() + timeout
        if app.ctx._callbacks:
            running: list[str] = []
            runner = threading.Thread(
                target=self._callbacks, args=(app, running), name=f"stop:{name}", daemon=True
            )
            runner.start()
            runner.join(timeout)
            if runner.is_alive():
                self.log(
                    f"application {name} did not stop within {timeout:g}s: a stop callback "
                    f"is still running ({running[-1] if running else 'the first'})"
                )
                return False
        thread = app.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                self.log(
                    f"application {name} did not stop within {timeout:g}s: its start "
                    "callable has not returned (it ignores ctx.stopping and has no "
                    "on_stop callback that ends it)"
                )
                return False
        self.log(f"application {name} stopped")
        return True

    def _callbacks(self, app: Application, running: list[str]) -> None:
        for fn in reversed(app.ctx._callbacks):
            running.append(getattr(fn, "__qualname__", None) or repr(fn))
            try:
                fn()
            except Exception as exc:
                self.log(f"application {app.entry.name}: stop callback failed: {exc!r}")


def decide(app: Application) -> int | None:
    """What the node does when ``app`` ended: an exit status, or ``None`` to go on."""
    mode, normal = app.entry.mode, app.outcome == "normal"
    status = getattr(app.error, "exit_status", 1)  # a command's own status (commandapp)
    if mode == "permanent":
        return 0 if normal else status
    if mode == "transient" and not normal:
        return status
    return None
