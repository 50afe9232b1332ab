"""The one small interface every artifact store implements.

A store is a flat namespace of objects under one location (a folder, a URL
prefix, a bucket prefix, a GitHub release set). Per release NAME a store holds:

    NAME/index.json                       versions with triple, sha256, size, time
    NAME/VSN/NAME-VSN-TRIPLE.tar.gz       the artifact (or .tar.xz)
    NAME/VSN/NAME-VSN-TRIPLE.tar.gz.sha256
    NAME/VSN/NAME-VSN-TRIPLE.tar.gz.sig   optional detached signature

Object names always use "/" and never start with "/"; each store maps them
to its own addressing. Stores raise :class:`StoreError` (with a one-sentence
message naming the store and the fix) and :class:`NotFound`; nothing else
escapes them for expected failures (network down, bad credentials, missing
object).

A store may also offer ``pushing(say)``, a context manager ``push`` holds from
its first request to its last: the folder store takes a lock there so pushes
take turns (``flock``), the GitHub store checks that it has a token before any
request. Stores without a lock rely on ``push`` re-reading the index just
before writing it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol


class StoreError(Exception):
    """A store could not do what was asked; the message says why and what to do."""


class NotFound(StoreError):
    """The object does not exist in the store."""


class Store(Protocol):
    """What ``push``, ``pull`` and ``list`` need from a store."""

    url: str
    """The location as the user wrote it (for messages)."""

    def list(self, prefix: str) -> list[str]:
        """Names of the objects whose name starts with ``prefix``, sorted."""
        ...

    def size(self, name: str) -> int:
        """The object's size in bytes; :class:`NotFound` if absent."""
        ...

    def get(self, name: str, start: int = 0) -> Iterator[bytes]:
        """The object's bytes from offset ``start`` to its end, in chunks.

        A store that supports byte ranges fetches only the rest; the caller
        uses this to resume a broken download.
        """
        ...

    def put(self, name: str, path: Path) -> None:
        """Store the file at ``path`` under ``name`` (replacing it)."""
        ...

    def delete(self, name: str) -> None:
        """Remove the object; absent objects are not an error."""
        ...
