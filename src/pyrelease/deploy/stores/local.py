"""A store in a local folder (``/srv/store`` or ``file:///srv/store``).

Objects are files below the folder; a put writes aside and renames, so a
reader never sees half an object.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from urllib.parse import unquote, urlsplit

from pyrelease.deploy.store import NotFound, StoreError

CHUNK = 1 << 16


def check_name(name: str) -> None:
    """Refuse object names that would leave the store's folder."""
    parts = name.split("/")
    if not name or name.startswith("/") or ".." in parts or "" in parts[:-1] or "\0" in name:
        raise StoreError(f"invalid object name {name!r}: names are relative and have no '..'")


class LocalStore:
    """Objects as files under a folder."""

    def __init__(self, url: str, environ: Mapping[str, str]) -> None:
        self.url = url
        if url.startswith("file://"):
            parts = urlsplit(url)
            if parts.netloc not in ("", "localhost"):
                raise StoreError(
                    f"{url!r} names the host {parts.netloc!r}: a file:// URL is "
                    "file:///absolute/path (three slashes)"
                )
            path = unquote(parts.path)
        else:
            path = url
        self.root = Path(os.path.expanduser(path)).absolute()

    def _path(self, name: str) -> Path:
        check_name(name)
        return self.root / name

    def list(self, prefix: str) -> list[str]:
        if not self.root.is_dir():
            raise StoreError(f"the store folder {self.root} does not exist: check --from/--to")
        names = []
        for dirpath, _dirs, files in os.walk(self.root):
            for f in files:
                rel = os.path.relpath(os.path.join(dirpath, f), self.root).replace(os.sep, "/")
                if rel.startswith(prefix) and not f.startswith(".put-"):
                    names.append(rel)
        return sorted(names)

    def size(self, name: str) -> int:
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"{name} is not in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {name} in {self.url}: {exc.strerror}") from None

    def get(self, name: str, start: int = 0) -> Iterator[bytes]:
        path = self._path(name)
        try:
            f = open(path, "rb")  # noqa: SIM115 - closed by the generator
        except FileNotFoundError:
            raise NotFound(f"{name} is not in {self.url}") from None
        except OSError as exc:
            raise StoreError(f"cannot read {name} in {self.url}: {exc.strerror}") from None
        return self._chunks(f, start)

    @staticmethod
    def _chunks(f, start: int) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
        with f:
            f.seek(start)
            while chunk := f.read(CHUNK):
                yield chunk

    def put(self, name: str, path: Path) -> None:
        target = self._path(name)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".put-", dir=target.parent)
            try:
                with os.fdopen(fd, "wb") as out, open(path, "rb") as src:
                    while chunk := src.read(CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(tmp, 0o644)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise StoreError(
                f"cannot write {name} to {self.url}: {exc.strerror}; check the folder's "
                "permissions and free space"
            ) from None

    def delete(self, name: str) -> None:
        try:
            self._path(name).unlink(missing_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot delete {name} in {self.url}: {exc.strerror}") from None
