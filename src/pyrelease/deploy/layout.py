"""The deploy root on a server, and the only code that changes it.

```text
ROOT/
  releases/
    1.2.3/                    an unpacked release (bin/, lib/, releases/, runtime-*/)
      releases/COOKIE -> ../../../shared/COOKIE
    1.3.0/
    .partial-1.4.0-XXXX/      being unpacked (removed on failure or by the next pull)
  shared/COOKIE               the control-channel cookie, 0400, kept across versions
  current -> releases/1.3.0   switched by renaming a new symlink over it
  previous -> releases/1.2.3
  .downloads/                 partial downloads, resumed by the next pull
  .lock                       flock: one release-deploy at a time on this root
```
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import string
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from packaging.version import InvalidVersion, Version

from pyrelease.deploy.errors import DeployError

COOKIE_ALPHABET = string.ascii_letters + string.digits + "_"
COOKIE_LENGTH = 56  # as the node makes it


def _version_key(name: str) -> tuple[int, Version | str]:
    try:
        return (1, Version(name))
    except InvalidVersion:
        return (0, name)


def check_version_dir(version: str) -> str:
    """``version`` when it is safe as a folder name under ``releases/`` (a PEP 440 version)."""
    try:
        Version(version)
    except InvalidVersion:
        valid = False
    else:
        valid = (
            bool(version) and version[0].isalnum() and "/" not in version and "\\" not in version
        )
    if not valid:
        raise DeployError(
            f"the store lists a version {version!r} that is not a PEP 440 version: "
            "push releases with release-deploy push"
        )
    return version


class Root:
    """A deploy root: versions side by side, ``current`` and ``previous`` links."""

    def __init__(self, path: Path) -> None:
        self.path = path.absolute()
        self.releases = self.path / "releases"
        self.shared = self.path / "shared"
        self.downloads = self.path / ".downloads"
        self.current_link = self.path / "current"
        self.previous_link = self.path / "previous"

    # ------------------------------------------------------------------ reading

    def versions(self) -> list[str]:
        """The unpacked versions, oldest first (PEP 440 order)."""
        if not self.releases.is_dir():
            return []
        names = [
            e.name
            for e in os.scandir(self.releases)
            if not e.name.startswith(".") and e.is_dir(follow_symlinks=False)
        ]
        return sorted(names, key=_version_key)

    def _link_version(self, link: Path) -> str | None:
        try:
            target = os.readlink(link)
        except OSError:
            return None
        name = os.path.basename(target.rstrip("/"))
        return name if (self.releases / name).is_dir() else None

    def current(self) -> str | None:
        """The version ``current`` points to."""
        return self._link_version(self.current_link)

    def previous(self) -> str | None:
        """The version ``previous`` points to."""
        return self._link_version(self.previous_link)

    def release_dir(self, version: str) -> Path:
        return self.releases / version

    # ------------------------------------------------------------------ writing

    def prepare(self) -> None:
        """Make the root's folders; a clear error when the root is not writable."""
        try:
            for d in (self.path, self.releases, self.shared, self.downloads):
                d.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.path):
                pass
        except OSError as exc:
            raise DeployError(
                f"the root {self.path} is not writable ({exc.strerror}): pass a --root this "
                "user can write, or run as the release's user"
            ) from None

    @contextlib.contextmanager
    def locked(self, say: Callable[[str], None]) -> Iterator[None]:
        """Hold the root's lock; wait for (and say so) another release-deploy holding it."""
        self.prepare()
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                say(f"waiting for another release-deploy working on {self.path}")
                began = time.monotonic()
                fcntl.flock(fd, fcntl.LOCK_EX)
                say(
                    f"waited {time.monotonic() - began:.1f}s for another release-deploy "
                    f"working on {self.path}"
                )
            yield
        finally:
            os.close(fd)

    def clean_partials(self) -> None:
        """Remove folders left by an unpack that crashed (called under the lock)."""
        if self.releases.is_dir():
            for entry in os.scandir(self.releases):
                if entry.name.startswith(".partial-"):
                    shutil.rmtree(entry.path, ignore_errors=True)

    def partial_dir(self, version: str) -> Path:
        """A fresh, empty folder beside ``releases/VSN`` to unpack into."""
        return Path(tempfile.mkdtemp(prefix=f".partial-{version}-", dir=self.releases))

    def ensure_cookie(self) -> Path:
        """``shared/COOKIE``, made (0400) on first use and kept across versions."""
        path = self.shared / "COOKIE"
        if path.exists():
            return path
        value = "".join(secrets.choice(COOKIE_ALPHABET) for _ in range(COOKIE_LENGTH))
        fd, tmp = tempfile.mkstemp(prefix=".COOKIE-", dir=self.shared)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(value)
            os.chmod(tmp, 0o400)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def link_cookie(self, release_dir: Path) -> None:
        """Point the release's ``releases/COOKIE`` at ``shared/COOKIE``.

        The node reads ``releases/COOKIE`` when ``RELEASE_COOKIE`` is unset, so
        every version, and its management commands, share one cookie.
        """
        self.ensure_cookie()
        link = release_dir / "releases" / "COOKIE"
        link.parent.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(self.shared / "COOKIE", link.parent)
        tmp = link.with_name(".COOKIE.link")
        tmp.unlink(missing_ok=True)
        os.symlink(target, tmp)
        os.replace(tmp, link)

    def _point(self, link: Path, version: str) -> None:
        tmp = link.with_name(f".{link.name}.{os.getpid()}")
        tmp.unlink(missing_ok=True)
        os.symlink(os.path.join("releases", version), tmp)
        os.replace(tmp, link)  # rename(2): readers see the old or the new link, never none

    def switch(self, version: str) -> str | None:
        """Make ``version`` current and the old current previous; the old current."""
        old = self.current()
        if old == version:
            return old
        self._point(self.current_link, version)
        if old is not None:
            self._point(self.previous_link, old)
        return old

    def switch_back(self, current: str, previous: str | None) -> None:
        """Restore ``current``/``previous`` exactly (after a failed start)."""
        self._point(self.current_link, current)
        if previous is not None:
            self._point(self.previous_link, previous)
        else:
            self.previous_link.unlink(missing_ok=True)

    def prune(self, keep: int) -> list[str]:
        """Remove all but the newest ``keep`` versions, never current or previous."""
        if keep < 1:
            raise DeployError(f"--keep must be at least 1, got {keep}")
        protected = {self.current(), self.previous()}
        versions = self.versions()
        removable = [v for v in versions[: max(len(versions) - keep, 0)] if v not in protected]
        for version in removable:
            # Renamed aside first, so a crash never leaves a half-deleted releases/VSN.
            aside = self.releases / f".partial-{version}-pruned"
            os.rename(self.release_dir(version), aside)
            shutil.rmtree(aside, ignore_errors=True)
        return removable
