"""``os`` for the management commands, without importing ``os``.

``import os`` runs ``_collections_abc`` (every collection ABC), ``stat`` and
``posixpath``: a millisecond or more of a management command whose own work
takes a few. The few calls the client path makes come straight from
``posix``, which the interpreter loaded at start-up (``os`` re-exports the
same functions); ``environ`` is decoded as ``os.environ`` decodes it; the
path functions are ``posixpath``'s, for ``str``. Anything else, and every
call on other platforms, is the real ``os``.

Only ``bin/NAME``'s management commands turn this on (:func:`enable`, before
importing ``client``): everywhere else ``from pyrelease.node.liteos import os``
is ``import os``, so a process that writes ``os.environ`` always writes the
real one.
"""

import sys

_enabled = False


def enable() -> None:
    """Use the light ``os`` in the modules imported from now on (POSIX only)."""
    global _enabled
    _enabled = "posix" in sys.builtin_module_names and "os" not in sys.modules


def __getattr__(name: str) -> object:
    if name != "os":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if _enabled:
        value: object = _Os()
    else:
        import os as value
    globals()["os"] = value  # decided once per process
    return value


def _real() -> object:
    import os

    return os


class _Path:
    """``os.path`` on POSIX: ``join``, ``dirname``, ``basename``, ``lexists`` here,
    anything else from ``posixpath``."""

    sep = "/"

    @staticmethod
    def join(a: str, *p: str) -> str:
        if type(a) is not str or any(type(b) is not str for b in p):
            return _real().path.join(a, *p)  # type: ignore[attr-defined]
        path = a
        for b in p:
            if b.startswith("/"):
                path = b
            elif not path or path.endswith("/"):
                path += b
            else:
                path += "/" + b
        return path

    @staticmethod
    def dirname(p: str) -> str:
        if type(p) is not str:
            return _real().path.dirname(p)  # type: ignore[attr-defined]
        head = p[: p.rfind("/") + 1]
        if head and head != "/" * len(head):
            head = head.rstrip("/")
        return head

    @staticmethod
    def basename(p: str) -> str:
        if type(p) is not str:
            return _real().path.basename(p)  # type: ignore[attr-defined]
        return p[p.rfind("/") + 1 :]

    @staticmethod
    def lexists(path: str) -> bool:
        try:
            _posix.lstat(path)
        except (OSError, ValueError):
            return False
        return True

    def __getattr__(self, name: str) -> object:
        return getattr(_real().path, name)  # type: ignore[attr-defined]


class _Os:
    """The functions ``os`` takes from ``posix``, ``environ`` and ``path``; the rest is ``os``'s."""

    def __init__(self) -> None:
        encoding = sys.getfilesystemencoding()
        self.environ = {
            k.decode(encoding, "surrogateescape"): v.decode(encoding, "surrogateescape")
            for k, v in _posix.environ.items()
        }
        self.path = _Path()
        for name in ("urandom", "getpid", "kill", "stat", "lstat", "access", "getcwd", "chdir",
                     "_exit", "W_OK"):  # fmt: skip
            setattr(self, name, getattr(_posix, name))

    def __getattr__(self, name: str) -> object:
        return getattr(_real(), name)


try:
    import posix as _posix
except ImportError:  # not POSIX: enable() keeps the real os
    _posix = None  # type: ignore[assignment]
