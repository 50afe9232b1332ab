"""The node's end of the control channel: authenticate, then serve requests.

Requests (after the handshake, one JSON frame each):

* ``{"op": "pid"}`` → ``{"pid": N}``
* ``{"op": "rpc", "code": "..."}`` → ``{"out": text, "stream": "stdout"|"stderr"}``
  frames, then ``{"done": true, "status": N}``
* ``{"op": "remote"}`` → a REPL session: ``{"prompt": ">>> "}``, the client
  answers ``{"line": "..."}`` or ``{"eof": true}``
* ``{"op": "stop"}`` → ``{"ok": true}``; the connection stays open until the
  process exits, so the caller knows when the node is gone
* ``{"op": "restart"}`` → ``{"ok": true}`` once the applications run again
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
from collections.abc import Callable

from pyrelease.node import channel, output
from pyrelease.node.releaseenv import AlreadyRunning, Env

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any


class ControlServer:
    """Listens on the node's address and serves each connection in a thread."""

    def __init__(
        self,
        env: Env,
        cookie: str,
        request: Callable[[str], Any],
        log: Callable[[str], None],
    ) -> None:
        self.env = env
        self.cookie = cookie
        self.request = request  # asks the main loop to "stop" or "restart"
        self.log = log
        self.listener: socket.socket | None = None
        self.cleanup: list[str] = []
        self.held: list[socket.socket] = []

    def start(self) -> None:
        """Bind and start accepting; raise :class:`AlreadyRunning` for a live namesake."""
        channel.sockets_dir(self.env)
        if self.env.distribution == "sname":
            self.listener = self._bind_unix()
        else:
            self.listener = self._bind_tcp()
        self.listener.listen(64)
        thread = threading.Thread(target=self._accept_loop, name="control", daemon=True)
        thread.start()

    def _bind_unix(self) -> socket.socket:
        path = channel.unix_path(self.env)
        if os.path.exists(path):
            probe = socket.socket(socket.AF_UNIX)
            try:
                channel.connect_unix(probe, path)
            except OSError:
                os.unlink(path)  # stale: left by a node that did not exit cleanly
            else:
                raise AlreadyRunning(
                    f"a node named {self.env.node_name} is already running ({path})"
                )
            finally:
                probe.close()
        sock = socket.socket(socket.AF_UNIX)
        old = os.umask(0o177)
        try:
            channel.bind_unix(sock, path)
        finally:
            os.umask(old)
        self.cleanup.append(path)
        return sock

    def _bind_tcp(self) -> socket.socket:
        port = int(self.env.dist_port or 0)
        sock = socket.create_server((self.env.node_host, port), reuse_port=False)
        if not self.env.dist_port:
            from pyrelease.node.safefiles import write_atomic

            path = channel.port_file(self.env)
            write_atomic(path, str(sock.getsockname()[1]).encode(), 0o600)
            self.cleanup.append(path)
        return sock

    def close(self) -> None:
        """Stop listening and remove the socket and port files."""
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.close()
        for path in self.cleanup:
            with contextlib.suppress(OSError):
                os.unlink(path)

    def _accept_loop(self) -> None:
        assert self.listener is not None
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        keep = False
        try:
            conn.settimeout(channel.HANDSHAKE_TIMEOUT)
            if not channel.server_handshake(conn, self.cookie):
                return
            conn.settimeout(None)
            while True:
                req = channel.recv(conn)
                op = req.get("op")
                if op == "pid":
                    channel.send(conn, {"pid": os.getpid()})
                elif op == "rpc" and isinstance(req.get("code"), str):
                    self._rpc(conn, req["code"])
                elif op == "remote":
                    self._remote(conn)
                elif op in ("stop", "restart"):
                    keep = op == "stop"
                    self._lifecycle(conn, op)
                    if keep:
                        self.held.append(conn)
                        return
                else:
                    channel.send(conn, {"error": f"unknown request {op!r}"})
        except (EOFError, OSError, channel.ProtocolError, TimeoutError):
            return  # a broken or hostile peer only loses its own connection
        finally:
            if not keep:
                with contextlib.suppress(OSError):
                    conn.close()

    def _sender(self, conn: socket.socket) -> Callable[[str, str], None]:
        lock = threading.Lock()

        def send_output(stream: str, text: str) -> None:
            if text:
                with lock:
                    channel.send(conn, {"out": text, "stream": stream})

        return send_output

    def _rpc(self, conn: socket.socket, source: str) -> None:
        import traceback

        status = 0
        with output.redirected(self._sender(conn)):
            try:
                exec(compile(source, "<rpc>", "exec"), {"__name__": "__rpc__"})
            except SystemExit as exc:
                status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except BaseException as exc:  # reported to the caller; the node is unharmed
                tb = exc.__traceback__.tb_next if exc.__traceback__ else None
                sys.stderr.write("".join(traceback.format_exception(type(exc), exc, tb)))
                status = 1
        channel.send(conn, {"done": True, "status": status})

    def _remote(self, conn: socket.socket) -> None:
        import code

        console = code.InteractiveConsole({"__name__": "__remote__"}, filename="<remote>")
        send_output = self._sender(conn)
        more = False
        while True:
            channel.send(conn, {"prompt": "... " if more else ">>> "})
            msg = channel.recv(conn)
            if msg.get("eof") or not isinstance(msg.get("line"), str):
                channel.send(conn, {"done": True})
                return
            with output.redirected(send_output):
                try:
                    more = console.push(msg["line"])
                except SystemExit:
                    channel.send(conn, {"done": True})
                    return

    def _lifecycle(self, conn: socket.socket, op: str) -> None:
        if op == "stop":
            # Reply first: once queued, the node may exit before a late reply goes out.
            channel.send(conn, {"ok": True})
            self.request(op)
            return
        result = self.request(op)
        channel.send(conn, {"ok": True} if result is None else {"error": result})
