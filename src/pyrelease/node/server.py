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

Output longer than ``channel.OUTPUT_CHUNK`` characters goes out in several
``out`` frames. Connections that have not authenticated yet are bounded (see
``channel``): past ``channel.MAX_UNAUTHENTICATED`` a new one is told ``busy``
and closed, and ``accept()`` errors (no descriptors left, aborted connections)
only pause the loop, they never end it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
import time
from collections.abc import Callable

from pyrelease.node import channel, output, vmargs
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
        self.tls: Any = None  # an ssl.SSLContext when TLS is configured (name only)
        self.closing = False
        self.pending = 0  # connections not authenticated yet
        self.lock = threading.Lock()

    def start(self) -> None:
        """Bind and start accepting; raise :class:`AlreadyRunning` for a live namesake."""
        channel.sockets_dir(self.env)
        if self.env.distribution == "sname":
            self.listener = self._bind_unix()
        else:
            from pyrelease.node import tlsconfig

            tls = tlsconfig.settings(self.env, vmargs.load(self.env.vm_args))
            if tls is not None:
                self.tls = tlsconfig.server_context(tls)
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
        self.closing = True
        if self.listener is not None:
            try:
                self.listener.close()
            except OSError:
                pass
        for path in self.cleanup:
            try:
                os.unlink(path)
            except OSError:
                pass

    def _accept_loop(self) -> None:
        assert self.listener is not None
        pause = 0.0
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError as exc:
                if self.closing:
                    return
                # EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED, EPROTO, EINTR...: all
                # pass. Back off (up to 1 s) so a full descriptor table is not spun on.
                if not pause:
                    self._note(f"control channel: accept() failed ({exc}); retrying")
                pause = min(max(pause * 2, 0.01), 1.0)
                time.sleep(pause)
                continue
            if pause:
                self._note("control channel: accepting connections again")
                pause = 0.0
            self._admit(conn)

    def _note(self, message: str) -> None:
        """Log one line; a log that cannot be written must not end the channel's threads."""
        try:
            self.log(message)
        except (OSError, ValueError):
            pass

    def _admit(self, conn: socket.socket) -> None:
        with self.lock:
            admitted = self.pending < channel.MAX_UNAUTHENTICATED
            if admitted:
                self.pending += 1
        if not admitted:  # a TLS peer could not read a plain "busy": just close
            if self.tls is None:
                channel.busy(conn)
            else:
                conn.close()
            return
        try:
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()
        except RuntimeError:  # no thread can be started now: as full as no descriptors
            self._authenticated()
            conn.close()

    def _authenticated(self) -> None:
        with self.lock:
            self.pending -= 1

    def _handshake(self, conn: socket.socket) -> tuple[socket.socket, channel.Session | None]:
        """TLS (when configured) and the cookie handshake, within one deadline."""
        deadline = time.monotonic() + channel.HANDSHAKE_TIMEOUT
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
                conn.settimeout(channel.HANDSHAKE_TIMEOUT)  # for the whole TLS handshake
                conn.do_handshake()
            return conn, channel.server_handshake(conn, self.cookie, deadline)
        except BaseException:
            conn.close()  # the TLS socket when wrapped: the caller only has the plain one
            raise
        finally:
            self._authenticated()

    def _serve(self, conn: socket.socket) -> None:
        keep = False
        try:
            conn, session = self._handshake(conn)
            if session is None:
                return
            conn.settimeout(None)
            while True:
                req = channel.recv(session)
                op = req.get("op")
                if op == "pid":
                    channel.send(session, {"pid": os.getpid()})
                elif op == "rpc" and isinstance(req.get("code"), str):
                    self._rpc(session, req["code"])
                elif op == "remote":
                    self._remote(session)
                elif op in ("stop", "restart"):
                    keep = op == "stop"
                    self._lifecycle(session, op)
                    if keep:
                        self.held.append(conn)
                        return
                else:
                    channel.send(session, {"error": f"unknown request {op!r}"})
        except channel.IntegrityError as exc:
            self._note(f"control channel: {exc}; connection closed")
        except (EOFError, OSError, channel.ProtocolError, TimeoutError):
            return  # a broken or hostile peer only loses its own connection
        finally:
            if not keep:
                try:
                    conn.close()
                except OSError:
                    pass

    def _sender(self, conn: channel.Session) -> Callable[[str, str], None]:
        step = channel.OUTPUT_CHUNK

        def send_output(stream: str, text: str) -> None:
            for start in range(0, len(text), step):  # big output: several frames
                channel.send(conn, {"out": text[start : start + step], "stream": stream})

        return send_output

    def _rpc(self, conn: channel.Session, source: str) -> None:
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

    def _remote(self, conn: channel.Session) -> None:
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

    def _lifecycle(self, conn: channel.Session, op: str) -> None:
        if op == "stop":
            # Reply first: once queued, the node may exit before a late reply goes out.
            channel.send(conn, {"ok": True})
            self.request(op)
            return
        result = self.request(op)
        channel.send(conn, {"ok": True} if result is None else {"error": result})
