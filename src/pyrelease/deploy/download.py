"""Fetch an artifact from a store: streamed to disk, resumed after a break, retried.

The partial file stays in ``ROOT/.downloads/`` when a pull fails, so the next
pull continues where this one stopped; the sha256 is checked once the file is
whole, and a file that does not match is deleted.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import click

from pyrelease.deploy.artifact import sha256_file
from pyrelease.deploy.errors import VerifyError
from pyrelease.deploy.index import Entry
from pyrelease.deploy.store import NotFound, Store, StoreError

RETRIES = 4
BACKOFF = (0.5, 1, 2, 4)  # seconds before the 2nd, 3rd... attempt


class Progress:
    """A bar on a terminal; otherwise a plain line at every quarter."""

    def __init__(self, label: str, total: int, say: Callable[[str], None]) -> None:
        self.total, self.say, self.label = total, say, label
        self.done = 0
        self.bar = None
        self.next_mark = 25
        if sys.stderr.isatty():
            self.bar = click.progressbar(length=total, label=label, file=sys.stderr)
            self.bar.__enter__()

    def start(self, done: int) -> None:
        self.update(done - self.done)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        percent = self.done * 100 // self.total if self.total else 100
        while percent >= self.next_mark and self.next_mark <= 100:
            self.say(f"{self.label}: {self.next_mark}% of {_mb(self.total)}")
            self.next_mark += 25

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def fetch_small(store: Store, name: str, limit: int = 1024 * 1024) -> bytes:
    """A small object (a ``.sha256``, a signature) read whole, at most ``limit`` bytes."""
    data = b""
    for chunk in store.get(name):
        data += chunk
        if len(data) > limit:
            raise StoreError(f"{name} in {store.url} is larger than {limit} bytes")
    return data


def download(
    store: Store,
    entry: Entry,
    downloads: Path,
    say: Callable[[str], None],
    retries: int = RETRIES,
    sleep: Callable[[float], None] = time.sleep,
) -> Path:
    """Download ``entry``'s artifact into ``downloads`` and check its size and sha256.

    A broken transfer is retried ``retries`` times, each time from the bytes
    already on disk (a ``Range`` request where the store supports it).
    """
    part = downloads / (entry.file.replace("/", "_") + ".part")
    if part.exists() and part.stat().st_size > entry.size:
        part.unlink()
    have = part.stat().st_size if part.exists() else 0
    if have:
        say(f"resuming the download at {_mb(have)} of {_mb(entry.size)}")
    progress = Progress(f"downloading {entry.file.rsplit('/', 1)[-1]}", entry.size, say)
    progress.start(have)
    try:
        attempts = retries + 1
        for attempt in range(attempts):
            try:
                with open(part, "ab") as out:
                    for chunk in store.get(entry.file, start=have):
                        out.write(chunk)
                        have += len(chunk)
                        progress.update(len(chunk))
                        if have > entry.size:
                            break
                if have >= entry.size:
                    break
                raise StoreError(f"the download of {entry.file} from {store.url} ended early")
            except NotFound:
                raise StoreError(
                    f"{entry.file} is listed in the index of {store.url} but is missing: "
                    "push the release again"
                ) from None
            except StoreError as exc:
                if attempt == attempts - 1:
                    raise StoreError(
                        f"{exc} (gave up after {attempts} attempts; the next pull resumes)"
                    ) from None
                say(f"{exc}; retrying from {_mb(have)}")
                sleep(BACKOFF[min(attempt, len(BACKOFF) - 1)])
    finally:
        progress.close()
    if have != entry.size or sha256_file(part) != entry.sha256:
        part.unlink(missing_ok=True)
        raise VerifyError(
            f"{entry.file} from {store.url} does not match its sha256 in the index: "
            "the artifact was changed or damaged; push it again"
        )
    return part
