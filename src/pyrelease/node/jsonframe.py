"""The JSON objects of control-channel frames, without importing ``json``.

``json`` costs a management command several milliseconds of imports (``re``,
``enum``...). The C accelerator behind it, ``_json``, holds everything a frame
needs: its string quoting and its scanner. Frames are flat objects of strings,
integers, booleans and ``null``; anything else goes through ``json`` itself,
so the bytes are exactly what ``json.dumps(obj, separators=(",", ":"))``
writes and every JSON text ``json.loads`` accepts as UTF-8 decodes the same.
"""

import sys

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

_INF = float("inf")
_CONSTANTS = {"-Infinity": -_INF, "Infinity": _INF, "NaN": _INF - _INF}
_SPACE = " \t\n\r"


class _Context:
    """The settings ``_json.make_scanner`` reads: those of a default ``json.JSONDecoder``."""

    def __init__(self) -> None:
        self.strict = True
        self.object_hook = None
        self.object_pairs_hook = None
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _CONSTANTS.__getitem__
        self.memo: dict[str, str] = {}


try:
    from _json import encode_basestring_ascii as _quote
    from _json import make_scanner as _make_scanner

    _scan = _make_scanner(_Context())
except ImportError:  # a Python built without the accelerator: the json package
    _quote = _scan = None  # type: ignore[assignment]


def encode(obj: "dict[str, Any]") -> bytes:
    """``obj`` as compact JSON (``json.dumps(obj, separators=(",", ":"))``), UTF-8."""
    if _quote is None:
        return _dumps(obj)
    parts = []
    for key, value in obj.items():
        if type(key) is not str:
            return _dumps(obj)
        if type(value) is str:
            text = _quote(value)
        elif value is True:
            text = "true"
        elif value is False:
            text = "false"
        elif value is None:
            text = "null"
        elif type(value) is int:
            text = int.__repr__(value)
        else:  # floats, lists, nested objects: as json writes them
            return _dumps(obj)
        parts.append(f"{_quote(key)}:{text}")
    return ("{" + ",".join(parts) + "}").encode()


def _dumps(obj: "dict[str, Any]") -> bytes:
    import json

    return json.dumps(obj, separators=(",", ":")).encode()


def decode(data: bytes) -> "Any":
    """The JSON value in ``data`` (UTF-8); ``ValueError`` when it is not one JSON text."""
    text = data.decode()  # UnicodeDecodeError is a ValueError
    if _scan is None:
        import json

        return json.loads(text)
    start, end = 0, len(text)
    while start < end and text[start] in _SPACE:
        start += 1
    while end > start and text[end - 1] in _SPACE:
        end -= 1
    try:
        value, stop = _scan(text, start)
    except StopIteration:
        raise ValueError("not a JSON value") from None
    except SystemError:
        # Inside a string, object or array, the scanner raises json.decoder's
        # JSONDecodeError, which it only finds once imported: when it is not, a
        # SystemError. ``load_file`` asks json itself for the details.
        if "json.decoder" in sys.modules:
            raise
        raise ValueError("not a JSON value") from None
    if stop != end:
        raise ValueError("extra data after the JSON value")
    return value


def load_file(path: str) -> "Any":
    """The JSON value of the file at ``path`` (UTF-8), as ``json.load`` reads it.

    The node's own files (``start.json``, ``sys.config``...) are read with this
    so that booting does not import ``json``. ``OSError`` when the file cannot
    be read; ``ValueError`` with ``json``'s own message (line and column) when
    it is not one JSON text.
    """
    with open(path, "rb") as f:
        data = f.read()
    return load_bytes(data)


def load_bytes(data: bytes) -> "Any":
    """The JSON value of a file's bytes (see :func:`load_file`)."""
    try:
        return decode(data)
    except ValueError:
        if _scan is None:
            raise
        import json  # only to describe what is wrong, as json.load would

        return json.loads(data.decode())
