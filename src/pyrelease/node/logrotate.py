"""Rotating log files for daemon mode, in ``run_erl``'s layout.

The node's output goes to ``BASE.1`` .. ``BASE.N`` (``BASE`` is
``$RELEASE_TMP/log/NODE.log``). Each file starts with a
``===== LOGGING STARTED <UTC date> =====`` line. When the next line would
take the current file over the size limit, writing moves on to the next index,
cyclically, truncating the generation it reuses. Every start of a daemon opens
the generation after the newest one, so each run begins in a fresh file.

``BASE`` itself is a symlink to the file being written: ``tail -F BASE``
follows the node across rotations. Rotation only happens between lines, so a
line is never split across two files (a single line longer than the limit is
written whole into a file of its own).
"""

from __future__ import annotations

import codecs
import os
import time
from typing import BinaryIO

from pyrelease.node.safefiles import open_private

HEADER = "===== LOGGING STARTED {date} =====\n"


def header(now: float | None = None) -> bytes:
    """The line every log file starts with."""
    date = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(now))
    return HEADER.format(date=date).encode()


def generation(path: str) -> int | None:
    """The index ``N`` of a ``NAME.log.N`` path, None for anything else."""
    suffix = path.rsplit(".", 1)[-1]
    return int(suffix) if suffix.isdigit() else None


def newest(base: str, max_files: int) -> str | None:
    """The log file written most recently: the symlink's target, else the newest by time."""
    try:
        target = os.readlink(base)
    except OSError:
        target = None
    if target is not None and generation(target) is not None:
        path = f"{base}.{generation(target)}"  # only ever one of ours, wherever it points
        if os.path.isfile(path):
            return path
    folder, prefix = os.path.split(base)
    found = []
    for index, path in _generations(folder, prefix):
        if index <= max_files:
            try:
                found.append((os.stat(path).st_mtime_ns, index, path))
            except FileNotFoundError:
                continue
    return max(found)[2] if found else None


def _generations(folder: str, prefix: str) -> list[tuple[int, str]]:
    """``(N, path)`` for every ``PREFIX.N`` file in ``folder``."""
    try:
        names = os.listdir(folder or ".")
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        index = generation(name) if name.startswith(prefix + ".") else None
        if index is not None and name == f"{prefix}.{index}":
            found.append((index, os.path.join(folder, name)))
    return found


def tail(base: str, max_files: int, count: int) -> list[str]:
    """The last ``count`` lines of the log, reaching into the previous file if needed."""
    path = newest(base, max_files)
    lines: list[str] = []
    for _ in range(max_files):
        if path is None or len(lines) >= count:
            break
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                lines = f.read().splitlines() + lines
        except FileNotFoundError:
            break
        index = generation(path) or 1
        previous = f"{base}.{(index - 2) % max_files + 1}"
        path = previous if previous != path and os.path.exists(previous) else None
    return lines[-count:]


class RotatingLog:
    """Writes bytes to ``BASE.1`` .. ``BASE.N``, rotating between lines."""

    def __init__(self, base: str, max_size: int, max_files: int) -> None:
        self.base = base
        self.max_size = max_size
        self.max_files = max_files
        self.index = 0
        self.size = 0
        self.header_size = 0
        self.at_line_start = True
        self.lost = 0
        self.error = ""
        self._fd: int | None = None

    @property
    def path(self) -> str:
        """The file being written."""
        return f"{self.base}.{self.index}"

    def open(self) -> None:
        """Start the generation after the newest one; drop generations beyond the limit."""
        current = newest(self.base, self.max_files)
        index = generation(current) if current else None
        self._remove_extra_generations()
        self._start((index % self.max_files) + 1 if index else 1)

    def write(self, data: bytes) -> None:
        """Append ``data``; move to the next file first when a line would not fit.

        A failed write (disk full...) loses that output, never the node: the loss
        is noted in the log once writing works again.
        """
        if self._fd is None:
            raise ValueError("the log is closed")
        if self.size + len(data) <= self.max_size:
            self._append(data)
            return
        while data:
            end = data.find(b"\n") + 1 or len(data)
            line, data = data[:end], data[end:]
            has_lines = self.size > self.header_size
            if self.at_line_start and has_lines and self.size + len(line) > self.max_size:
                try:
                    self._start(self.index % self.max_files + 1)
                except OSError:
                    pass  # keep writing to the current file
            self._append(line)

    def line(self, text: str) -> None:
        """Write one line of the supervisor's own, on a line of its own."""
        prefix = b"" if self.at_line_start else b"\n"
        self.write(prefix + text.encode("utf-8", "replace") + b"\n")

    def close(self) -> None:
        """Close the current file (the symlink stays, pointing at it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _append(self, data: bytes) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self.lost += len(view)
            self.error = exc.strerror or repr(exc)
        self.size += len(data) - len(view)
        if data:
            self.at_line_start = data.endswith(b"\n")
        if self.lost and self.at_line_start and not view:
            note = f"[daemon] {self.lost} bytes of output were lost: {self.error}\n"
            self.lost = 0
            self._append(note.encode())

    def _start(self, index: int) -> None:
        # Never through a link or into another file: see safefiles.open_private.
        fd = open_private(f"{self.base}.{index}", os.O_WRONLY | os.O_TRUNC | os.O_APPEND)
        self.close()
        self._fd, self.index, self.size, self.at_line_start = fd, index, 0, True
        self._append(header())
        self.header_size = self.size
        self._point_link()

    def _point_link(self) -> None:
        """Make ``BASE`` a symlink to the current file, atomically."""
        temporary = f"{self.base}.link-{os.getpid()}-{os.urandom(6).hex()}"
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        os.symlink(os.path.basename(self.path), temporary)
        os.replace(temporary, self.base)

    def _remove_extra_generations(self) -> None:
        """Files ``BASE.K`` with ``K`` over the limit (from a larger earlier setting)."""
        for index, path in _generations(*os.path.split(self.base)):
            if index > self.max_files:
                os.unlink(path)


class LogFollower:
    """``tail -F`` on the log's symlink: new text, switching files when it rotates."""

    def __init__(self, link: str) -> None:
        self.link = link
        self.path = ""
        self.file: BinaryIO | None = None
        self.decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._open(at_end=True)

    def read(self) -> str:
        """What was written since the last call."""
        data = self._read()
        if os.path.realpath(self.link) != self.path:
            self._open(at_end=False)  # rotated: the rest of the old file, then the new one
            data += self._read()
        elif self.file is not None and os.fstat(self.file.fileno()).st_size < self.file.tell():
            self.file.seek(0)  # the same generation was reused (truncated)
            data += self._read()
        return self.decoder.decode(data)

    def close(self) -> None:
        """Close the file being followed."""
        if self.file is not None:
            self.file.close()
            self.file = None

    def _read(self) -> bytes:
        return self.file.read() or b"" if self.file is not None else b""

    def _open(self, *, at_end: bool) -> None:
        self.close()
        self.path = os.path.realpath(self.link)
        try:
            self.file = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError:
            return
        if at_end:
            self.file.seek(0, os.SEEK_END)
