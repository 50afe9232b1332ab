"""``start(ctx)`` serves HTTP until the node stops it.

``GET /`` answers a greeting rendered with Jinja2; ``GET /modules`` lists the
top-level modules the node has imported (JSON). The port comes from
``WEB_PORT`` (0, the default, picks a free one; the log line shows it).
"""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import core
import jinja2

PAGE = jinja2.Template("{{ text }} ({{ release }})")


class Handler(BaseHTTPRequestHandler):
    server: "WebServer"

    def do_GET(self) -> None:
        if self.path == "/":
            release = self.server.ctx.release
            body = PAGE.render(text=core.greeting("web"), release=release.name) + "\n"
        elif self.path == "/modules":
            body = json.dumps(sorted({m.partition(".")[0] for m in sys.modules})) + "\n"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class WebServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, ctx, port: int) -> None:
        self.ctx = ctx
        super().__init__(("127.0.0.1", port), Handler)


def start(ctx) -> None:
    """Serve until the node stops this application."""
    with WebServer(ctx, int(os.environ.get("WEB_PORT", "0"))) as server:

        def stopping() -> None:
            print("web stopping", flush=True)
            server.shutdown()

        ctx.on_stop(stopping)
        print(f"web started on http://127.0.0.1:{server.server_address[1]}", flush=True)
        ctx.ready()
        server.serve_forever(poll_interval=0.05)
