"""What the build already parsed and compiled for a boot, so a node does not redo it.

A node reads the same few files at every boot: the manifest
(``start.json``/``start_clean.json``), ``boot.json``, ``sys.config``,
``start.command`` (JSON) and ``runtime.py`` (compiled). The build leaves beside them:

* ``releases/VSN/boot.cache``: ``marshal`` data (format 2), a dict from the
  exact bytes of each JSON file to the ``marshal`` of its value. Format 2
  writes no references and no interned-string marks, so the file depends on
  nothing but the values (reproducible builds), and any CPython reads it.
* ``releases/VSN/__pycache__/runtime.TAG.pyc``: ``runtime.py`` compiled by the
  release's interpreter, a hash-based ``.pyc`` as importlib writes them;
* ``releases/VSN/bin/__pycache__/SCRIPT.TAG.pyc``: each console script the
  same way (the release's interpreter runs them, see ``interp``).

A file is taken from the cache only when its bytes now are exactly the bytes
the cache was made from (JSON) or hash to the recorded source hash
(``runtime.py``, the scripts): a file edited in the release is read as before,
and so is a file the cache does not know (a ``RELEASE_SYS_CONFIG`` elsewhere).
A missing or unreadable cache only means the slower path. The point is start
time: a hit needs no ``json`` (``_json`` is a shared library to load) and no
``compile()``, whose first call in a process builds the ``ast`` node classes,
a millisecond.
"""

import marshal
import os
import sys

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from types import CodeType
    from typing import Any

FILE = "boot.cache"
#: ``marshal`` format of ``boot.cache``: 2 writes no references nor interned marks.
MARSHAL_VERSION = 2

_entries: "dict[bytes, bytes]" = {}
_used: "set[str]" = set()


def use(vsn_dir: str) -> None:
    """Read ``vsn_dir``'s ``boot.cache`` (once per process), if there is a valid one."""
    if vsn_dir in _used:
        return
    _used.add(vsn_dir)
    try:
        with open(os.path.join(vsn_dir, FILE), "rb") as f:
            entries = marshal.loads(f.read())
    except (OSError, ValueError, EOFError, TypeError):
        return
    if type(entries) is dict:
        for key, value in entries.items():
            if type(key) is bytes and type(value) is bytes:
                _entries[key] = value


def load_json(path: str) -> "Any":
    """The JSON value of the file at ``path``, from the cache when its bytes are known.

    Raises what :func:`jsonframe.load_file` raises: ``OSError`` when the file
    cannot be read, ``ValueError`` when it is not one JSON text.
    """
    with open(path, "rb") as f:
        data = f.read()
    known = _entries.get(data)
    if known is not None:
        try:
            return marshal.loads(known)  # a fresh copy at every call
        except (ValueError, EOFError, TypeError):
            pass
    from pyrelease.node import jsonframe

    return jsonframe.load_bytes(data)


def pyc_name(name: str, tag: str) -> str:
    """The ``__pycache__`` name of the compiled file ``name``: ``STEM.TAG.pyc`` for a
    ``.py`` file (as importlib names it), ``NAME.TAG.pyc`` for a script without the
    suffix (``gunicorn.cpython-311.pyc``; the build writes the same names)."""
    return f"{name[:-3] if name.endswith('.py') else name}.{tag}.pyc"


def compiled(path: str, source: "bytes | None" = None) -> "CodeType | None":
    """The code of the Python file at ``path`` from its ``__pycache__`` ``.pyc``, or None.

    Only a hash-based ``.pyc`` (named as :func:`pyc_name` says) of this
    interpreter whose source hash is that of the file as it is now (``source``,
    its bytes when the caller has read them already), and only without ``-O``
    (the build compiles at level 0): the same code ``compile(source, path,
    "exec", dont_inherit=True)`` would give, and ``co_filename`` is ``path``.
    None means: compile the file yourself.
    """
    tag = sys.implementation.cache_tag
    if tag is None or sys.flags.optimize:
        return None
    folder, name = os.path.split(path)
    if not name:
        return None
    try:
        if source is None:
            with open(path, "rb") as f:
                source = f.read()
        with open(os.path.join(folder, "__pycache__", pyc_name(name, tag)), "rb") as f:
            data = f.read()
    except OSError:
        return None
    import _imp

    bootstrap = sys.modules["_frozen_importlib_external"]
    if (
        len(data) < 16
        or data[:4] != bootstrap.MAGIC_NUMBER
        or data[4:8] not in (b"\x01\x00\x00\x00", b"\x03\x00\x00\x00")  # hash-based
        or data[8:16] != _imp.source_hash(bootstrap._RAW_MAGIC_NUMBER, source)
    ):
        return None
    try:
        code = marshal.loads(memoryview(data)[16:])
    except (ValueError, EOFError, TypeError):
        return None
    if type(code) is not type(compiled.__code__):  # types.CodeType, without importing types
        return None
    _imp._fix_co_filename(code, path)
    return code
