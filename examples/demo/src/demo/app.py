"""The demo HTTP service: ``start(ctx)`` serves until the node stops it.

Routes: ``GET /`` (a greeting rendered from a template, with an ETag computed by
the C extension ``demo_speedups``), ``GET /page`` (the same as HTML), ``GET /health``
and ``GET /info`` (JSON about the release and the interpreter); anything else 404.
Config keys (``ctx.config``): ``host``, ``port`` (0 picks a free port; the log
line shows the real one) and ``greeting``.
"""

import importlib
import json
import platform
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo import stats

DEFAULTS = {"host": "127.0.0.1", "port": 4000, "greeting": "Hello"}
# Reported by /info: which modules are loaded, to tell embedded from interactive mode.
WATCHED_MODULES = ["demo.views", "demo.tasks", "demo_extra", "demo_speedups", "demo_speedups._fnv"]


def _say(line: str) -> None:
    print(line, flush=True)


class Handler(BaseHTTPRequestHandler):
    """Serves the three routes; the server carries ``ctx`` and ``settings``."""

    server: "DemoServer"

    def do_GET(self) -> None:
        stats.record_request()
        if self.path in ("/", "/page"):
            self._page(html=self.path == "/page")
        elif self.path == "/health":
            self._send(200, "text/plain; charset=utf-8", "ok\n")
        elif self.path == "/info":
            body = json.dumps(self._info(), indent=2, sort_keys=True) + "\n"
            self._send(200, "application/json", body)
        else:
            self._send(404, "text/plain; charset=utf-8", "not found\n")

    def _page(self, html: bool) -> None:
        # Imported here, not at the top: this is the lazily loaded module.
        views = importlib.import_module("demo.views")
        release = self.server.ctx.release
        render = views.render_page if html else views.render_index
        body = render(self.server.settings["greeting"], release.name, release.version)
        kind = "text/html" if html else "text/plain"
        self._send(200, f"{kind}; charset=utf-8", body, {"ETag": views.etag(body)})

    def _info(self) -> dict:
        release = self.server.ctx.release
        return {
            "release": {
                "name": release.name,
                "version": release.version,
                "root": str(release.root),
            },
            "python": platform.python_version(),
            "executable": sys.executable,
            "isolated": sys.flags.isolated,
            "sys_path": list(sys.path),
            "modules": {name: name in sys.modules for name in WATCHED_MODULES},
            "config": self.server.settings,
            "requests": stats.connected(),
        }

    def _send(
        self, status: int, content_type: str, text: str, headers: dict[str, str] | None = None
    ) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        _say(f"demo {self.address_string()} {format % args}")


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx, settings: dict) -> None:
        self.ctx = ctx
        self.settings = settings
        super().__init__((settings["host"], settings["port"]), Handler)


def start(ctx) -> None:
    """Serve HTTP until the node stops; then return None (ended normally)."""
    settings = {**DEFAULTS, **ctx.config}
    with DemoServer(ctx, settings) as server:  # leaving the block closes the socket
        # shutdown() makes serve_forever() return (at once if it is called before serving).
        ctx.on_stop(server.shutdown)
        host, port = server.server_address[:2]
        _say(f"demo listening on http://{host}:{port}")
        ctx.ready()
        # serve_forever() notices shutdown() only between polls: the default 0.5 s
        # poll would make every stop take up to half a second.
        server.serve_forever(poll_interval=0.05)
