"""The control channel's own JSON framing and HMAC-SHA256 give exactly the bytes
of ``json`` and ``hmac``, so both ends agree whichever one a process has loaded,
and hostile frames fail as ``ValueError`` the channel turns into ProtocolError."""

from __future__ import annotations

import hmac
import json
import socket
import subprocess
import sys

import pytest

from pyrelease.node import channel, hmacsha, jsonframe

FRAMES = [
    {},
    {"op": "pid"},
    {"op": "rpc", "code": 'print("é\\u2603", "\\x00")\n\ttab'},
    {"out": 'snow ☃, emoji 😀, lone \udcff, quote " backslash \\ nul \x00', "stream": "stderr"},
    {"done": True, "status": 3},
    {"ok": False, "pid": 123456789012345678901234567890, "none": None, "neg": -7},
    {"nested": {"a": [1, 2.5, None]}, "f": 1.5, "big": 1e300},
]


@pytest.mark.parametrize("frame", FRAMES)
def test_encode_is_json_dumps_and_decodes_back(frame: dict) -> None:
    data = jsonframe.encode(frame)
    assert data == json.dumps(frame, separators=(",", ":")).encode()
    assert jsonframe.decode(data) == json.loads(data)


@pytest.mark.parametrize(
    "text",
    [' {"a": 1} ', '{"a":NaN,"b":-Infinity}', '["list"]', '"s"', "12", '{"a":{"b":[true]}}'],
)
def test_decode_accepts_what_json_accepts(text: str) -> None:
    got, want = jsonframe.decode(text.encode()), json.loads(text)
    assert repr(got) == repr(want)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"   ",
        b"{",
        b'{"a":1} x',
        b'{"a":1}{}',
        b"\xff\xfe{",
        b'{"a":"\x01"}',
        b"nul",
        b"[" * 50,
    ],
)
def test_decode_rejects_what_json_rejects(data: bytes) -> None:
    with pytest.raises(ValueError):
        json.loads(data)
    with pytest.raises(ValueError):
        jsonframe.decode(data)


def test_bad_json_is_a_value_error_in_a_process_without_json(tmp_path) -> None:
    """The C scanner reports most syntax errors through ``json.decoder``, which it only
    finds once imported: a node or a client has not imported it (boot time)."""
    bad = tmp_path / "sys.config"
    bad.write_text('{"a": 1,\n not json}')
    code = f"""
import sys
sys.path.insert(0, {str(jsonframe.__file__.rsplit("/", 3)[0])!r})
from pyrelease.node import jsonframe
assert "json.decoder" not in sys.modules
for data in (b'{{not json', b'"abc', b'{{"a": [1, }}', b'{{"a"', b'{{"a":1}} x'):
    try:
        jsonframe.decode(data)
    except ValueError:
        pass
    else:
        raise AssertionError(data)
try:
    jsonframe.load_file({str(bad)!r})
except ValueError as exc:
    print(exc)
"""
    found = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, timeout=60
    )
    assert found.returncode == 0, found.stderr
    assert (
        found.stdout.strip()
        == "Expecting property name enclosed in double quotes: line 2 column 2 (char 10)"
    )


def test_a_deeply_nested_frame_is_a_protocol_error() -> None:
    a, b = socket.socketpair()
    with a, b:
        payload = b"[" * 100_000
        a.sendall(len(payload).to_bytes(4, "big") + payload)
        with pytest.raises(channel.ProtocolError, match="not JSON"):
            channel.recv(b)


# RFC 4231 test cases 1, 2, 4, 6 and 7 (HMAC-SHA-256).
RFC4231 = [
    (b"\x0b" * 20, b"Hi There",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe", b"what do ya want for nothing?",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    (bytes(range(1, 26)), b"\xcd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
    (b"\xaa" * 131,
     b"This is a test using a larger than block-size key and a larger than block-size data. "
     b"The key needs to be hashed before being used by the HMAC algorithm.",
     "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"),
]  # fmt: skip


@pytest.mark.parametrize(("key", "msg", "want"), RFC4231)
def test_hmac_matches_rfc4231_and_hmac(key: bytes, msg: bytes, want: str) -> None:
    assert hmac.digest(key, msg, "sha256").hex() == want
    assert hmacsha.digest(key, msg).hex() == want


def test_hmac_without_openssl_loaded_matches_hmac() -> None:
    """A management command never loads OpenSSL; its tags are the node's."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from pyrelease.node import hmacsha\n"
        "keys = [b'', b'k', b'x' * 64, b'y' * 65, bytes(range(256))]\n"
        "msgs = [b'', b'm', bytes(range(256)) * 300]\n"
        "print([hmacsha.digest(k, m).hex() for k in keys for m in msgs])\n"
        "print('_hashlib' in sys.modules)"
    )
    src = str(__import__("pathlib").Path(channel.__file__).parents[2])
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code, src], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    keys = [b"", b"k", b"x" * 64, b"y" * 65, bytes(range(256))]
    msgs = [b"", b"m", bytes(range(256)) * 300]
    assert out[0] == repr([hmac.digest(k, m, "sha256").hex() for k in keys for m in msgs])
    assert out[1] == "False"


@pytest.mark.parametrize(
    "text",
    ['{"a": [1, 2.5, null], "b": {"c": "\\u00e9"}}\n', "[]", '  "x"  ', "", "{", '{"a":1} x',
     "\ufeff{}", '{"a": "\x01"}'],
)  # fmt: skip
def test_load_file_reads_as_json_load_and_fails_with_its_message(tmp_path, text: str) -> None:
    path = tmp_path / "f.json"
    path.write_text(text, encoding="utf-8")
    try:
        with open(path, encoding="utf-8") as f:
            want: object = json.load(f)
    except ValueError as exc:
        with pytest.raises(ValueError) as got:
            jsonframe.load_file(str(path))
        assert str(got.value) == str(exc)
    else:
        assert repr(jsonframe.load_file(str(path))) == repr(want)
