"""The supervisor's channels to the node it runs (the loop is in ``supervisor.py``).

* :class:`NodeOutput`: the node's stdout and stderr, copied into the rotating
  log, with this boot's last lines kept for the ``daemon`` command's report;
* :class:`ReadinessSocket`: the datagram socket ``NOTIFY_SOCKET`` names, on which
  the node says ``READY=1``;
* :class:`InputPipe`: ``daemon_iex``'s FIFO, ``tmp/pipe/NODE.in``, forwarded to
  the node's stdin without ever blocking the supervisor's loop.
"""

from __future__ import annotations

import collections
import os
import selectors
import socket
import stat
import tempfile

from pyrelease.node.pidfiles import remove

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import IO

    from pyrelease.node.logrotate import RotatingLog

TAIL_LINES = 20
MAX_PENDING_INPUT = 1 << 20
MAX_UNIX_PATH = 100  # sun_path holds 108 bytes on Linux, 104 on the BSDs


class NodeOutput:
    """What the node writes: all of it into the log, this boot's last lines into ``tail``."""

    def __init__(self, log: RotatingLog) -> None:
        self.log = log
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.partial = b""

    def read(self, stream: IO[bytes]) -> bool:
        """Log what is there to read on the node's ``stream``; False at its end."""
        try:
            data = os.read(stream.fileno(), 65536)
        except BlockingIOError:
            return True
        if data:
            self.record(data)
        return bool(data)

    def drain(self, stream: IO[bytes]) -> None:
        """Log what the node wrote before it exited (bounded: a grandchild may keep writing)."""
        for _ in range(256):
            try:
                data = os.read(stream.fileno(), 65536)
            except (BlockingIOError, ValueError):
                return
            if not data:
                return
            self.record(data)

    def record(self, data: bytes) -> None:
        self.log.write(data)
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()[-4096:]
        self.tail.extend(line.decode("utf-8", "replace") for line in lines)


class ReadinessSocket:
    """A datagram socket in the private pipe/ folder (or a private temporary one
    when that path is too long for a Unix socket)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.dir: str | None = None
        self.sock: socket.socket | None = None

    def bind(self) -> socket.socket:
        """Create and bind the socket (non-blocking, mode 0600); return it."""
        if len(self.path.encode()) > MAX_UNIX_PATH:
            self.dir = tempfile.mkdtemp(prefix="pyrelease-")
            self.path = os.path.join(self.dir, "notify")
        remove(self.path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        old = os.umask(0o177)  # made 0600; no chmod by name, which would follow a link
        try:
            self.sock.bind(self.path)
        finally:
            os.umask(old)
        self.sock.setblocking(False)
        return self.sock

    def receive(self) -> dict[str, str] | None:
        """The fields of one notification (``READY=1``, ``MAINPID=…``); None if none came."""
        assert self.sock is not None
        try:
            data = self.sock.recv(4096)
        except OSError:
            return None
        return dict(line.partition("=")[::2] for line in data.decode(errors="replace").splitlines())

    def close(self) -> None:
        """Close the socket; removing its file is left to the caller's cleanup."""
        if self.sock is not None:
            self.sock.close()

    def remove_dir(self) -> None:
        """Remove the temporary folder made for a long path, once the socket file is gone."""
        if self.dir is not None:
            os.rmdir(self.dir)


class InputPipe:
    """``pipe/NODE.in``: what is written to it goes to the running node's stdin,
    buffered (up to ``MAX_PENDING_INPUT`` bytes) while the node is not reading."""

    def __init__(self, path: str, sel: selectors.BaseSelector, log: RotatingLog) -> None:
        self.path, self.sel, self.log = path, sel, log
        self.fds: list[int] = []
        self.pending = bytearray()

    def open(self) -> int:
        """Make the FIFO and return its reading end; holding a writer of our own keeps
        readers from seeing EOF."""
        remove(self.path)
        os.mkfifo(self.path, 0o600)  # fails if anything (a link...) took the name meanwhile
        flags = os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOFOLLOW
        reader = os.open(self.path, os.O_RDONLY | flags)
        self.fds = [reader]
        if not stat.S_ISFIFO(os.fstat(reader).st_mode):
            raise OSError(f"{self.path} is not the FIFO just made")
        os.fchmod(reader, 0o600)  # whatever the umask
        self.fds.append(os.open(self.path, os.O_WRONLY | flags))
        return reader

    def forward(self, stdin: IO[bytes] | None) -> None:
        """Read what was written to the FIFO and queue it for ``stdin``, the node's
        (None when no node is running)."""
        try:
            data = os.read(self.fds[0], 65536)
        except BlockingIOError:
            return
        if stdin is None:
            self.log.line("[daemon] input dropped: the node is not running")
        elif len(self.pending) + len(data) > MAX_PENDING_INPUT:
            self.log.line("[daemon] input dropped: the node is not reading its input")
        elif data:
            if not self.pending:
                self.sel.register(stdin, selectors.EVENT_WRITE, lambda: self._write(stdin))
            self.pending += data

    def _write(self, stdin: IO[bytes]) -> None:
        try:
            written = os.write(stdin.fileno(), self.pending)
        except BlockingIOError:
            return
        except BrokenPipeError:
            written = len(self.pending)  # the node closed its input: drop the rest
        del self.pending[:written]
        if not self.pending:
            self.sel.unregister(stdin)

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
