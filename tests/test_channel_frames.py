"""The control channel's frame rules, one at a time, over real socket pairs:
tags catch altered, replayed, reordered and reflected frames; limits and
deadlines hold before a frame is read."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from pyrelease.node import channel

KEY = channel.session_key("cookie", "n" * 64, "c" * 64)


def wire(frames: list[dict], role: str = "client") -> list[bytes]:
    """The bytes ``role`` puts on the wire for each frame of a fresh session."""
    a, b = socket.socketpair()
    with a, b:
        sender = channel.Session(a, KEY, role)
        out = []
        for frame in frames:
            channel.send(sender, frame)
            out.append(b.recv(1 << 16))
        return out


def deliver(chunks: list[bytes], role: str = "node") -> tuple[list[dict], Exception | None]:
    """Feed raw bytes to a fresh ``role`` session; the frames it accepted and how it stopped."""
    a, b = socket.socketpair()
    with a, b:
        a.sendall(b"".join(chunks))
        a.shutdown(socket.SHUT_WR)
        receiver = channel.Session(b, KEY, role)
        got: list[dict] = []
        try:
            while True:
                got.append(channel.recv(receiver))
        except (channel.ProtocolError, EOFError) as exc:
            return got, exc


def test_frames_pass_in_order() -> None:
    got, end = deliver(wire([{"op": "rpc", "code": "1"}, {"line": "x"}]))
    assert got == [{"op": "rpc", "code": "1"}, {"line": "x"}]
    assert isinstance(end, EOFError)


def test_an_altered_frame_is_rejected() -> None:
    (frame,) = wire([{"op": "rpc", "code": "print(1)"}])
    altered = frame.replace(b"print(1)", b"print(2)")
    got, end = deliver([altered])
    assert got == [] and isinstance(end, channel.IntegrityError)


def test_a_replayed_frame_is_rejected() -> None:
    (frame,) = wire([{"op": "rpc", "code": "charge()"}])
    got, end = deliver([frame, frame])
    assert got == [{"op": "rpc", "code": "charge()"}]
    assert isinstance(end, channel.IntegrityError)


def test_reordered_and_dropped_frames_are_rejected() -> None:
    first, second, third = wire([{"line": "a"}, {"line": "b"}, {"line": "c"}])
    got, end = deliver([second, first])  # reordered
    assert got == [] and isinstance(end, channel.IntegrityError)
    got, end = deliver([first, third])  # the second dropped
    assert got == [{"line": "a"}] and isinstance(end, channel.IntegrityError)


def test_a_frame_sent_back_to_its_sender_is_rejected() -> None:
    (frame,) = wire([{"out": "hello", "stream": "stdout"}], role="node")
    got, end = deliver([frame], role="node")
    assert got == [] and isinstance(end, channel.IntegrityError)


def test_another_session_key_is_rejected() -> None:
    other = channel.session_key("cookie", "n" * 64, "d" * 64)
    a, b = socket.socketpair()
    with a, b:
        channel.send(channel.Session(a, other, "client"), {"op": "pid"})
        with pytest.raises(channel.IntegrityError):
            channel.recv(channel.Session(b, KEY, "node"))


def test_the_length_prefix_is_checked_before_reading() -> None:
    a, b = socket.socketpair()
    with a, b:
        a.sendall((16 * 1024 * 1024).to_bytes(4, "big"))  # and nothing after it
        with pytest.raises(channel.ProtocolError, match="over the 1024 limit"):
            channel.recv(b, channel.MAX_HANDSHAKE_FRAME, time.monotonic() + 30)


def test_the_deadline_bounds_the_whole_frame_not_each_read() -> None:
    a, b = socket.socketpair()
    stop = threading.Event()

    def drip() -> None:
        for byte in (100).to_bytes(4, "big") + b"{" * 100:
            if stop.wait(0.2):
                return
            try:
                a.send(bytes([byte]))
            except OSError:
                return

    with a, b:
        threading.Thread(target=drip, daemon=True).start()
        try:
            with pytest.raises(TimeoutError):
                channel.recv(b, channel.MAX_HANDSHAKE_FRAME, time.monotonic() + 1)
        finally:
            stop.set()
