"""``start(ctx)``: an HTTP service using a compiled extension (``demo_speedups``).

Routes: ``GET /`` (a greeting and the FNV-1a hash of it, computed in C) and
``GET /health``; anything else 404. Config keys: ``host``, ``port`` (0 picks a free
port; the log line shows the real one), ``greeting``.
"""

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from demo_speedups import fnv1a

DEFAULTS = {"host": "127.0.0.1", "port": 4000, "greeting": "Hello"}


class Handler(BaseHTTPRequestHandler):
    """Serves ``/`` and ``/health``; the server carries ``ctx`` and ``settings``."""

    def do_GET(self) -> None:
        if self.path == "/":
            release = self.server.ctx.release
            text = f"{self.server.settings['greeting']} from {release.name} {release.version}!"
            self._send(200, f"{text}\nfnv1a: {fnv1a(text.encode()):016x}\n")
        elif self.path == "/health":
            self._send(200, "ok\n")
        else:
            self._send(404, "not found\n")

    def _send(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        print(f"demo {self.address_string()} {format % args}", flush=True)


def start(ctx) -> None:
    """Serve HTTP until the node stops; then return None (ended normally)."""
    settings = {**DEFAULTS, **ctx.config}
    server = ThreadingHTTPServer((settings["host"], settings["port"]), Handler)
    server.daemon_threads = True
    server.ctx, server.settings = ctx, settings
    with server:
        ctx.on_stop(server.shutdown)
        host, port = server.server_address[:2]
        print(f"demo listening on http://{host}:{port}", flush=True)
        ctx.ready()
        server.serve_forever(poll_interval=0.05)
