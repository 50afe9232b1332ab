"""Safe extraction of release tarballs: refuse, never skip.

Starts from the standard library's ``data`` filter (PEP 706) and adds what it
lacks for artifacts that arrive over the network:

* it *refuses* where the ``data`` filter silently repairs (a leading ``/`` is
  stripped, setuid bits are cleared): a release that needs repairing is not
  the release that was built, so we stop;
* any ``..`` component is refused, even one that stays inside;
* devices, FIFOs and other special members are refused by name;
* links must stay inside the release (symlinks resolved from their folder,
  hard links to another member);
* the number of members and the bytes they unpack to are bounded, checked
  from the headers before a byte of the member is written.

Each rule is a small function raising :class:`UnsafeArchive`; :func:`check_member`
runs them all, :func:`safe_extract` unpacks through them.
"""

from __future__ import annotations

import posixpath
import stat
import tarfile
from dataclasses import dataclass
from pathlib import Path

from pyrelease.deploy.errors import UnsafeArchive

DEFAULT_MAX_MEMBERS = 100_000
DEFAULT_MAX_BYTES = 4 * 1024**3  # 4 GiB unpacked; a release is usually well under 200 MiB


class UnreadableArchive(UnsafeArchive):
    """The file is not a tarball, or is truncated or corrupt."""

    def __init__(self, path: Path, exc: BaseException) -> None:
        detail = (str(exc).splitlines() or [type(exc).__name__])[0].rstrip(":")
        super().__init__(
            f"{path.name} is not a readable tarball ({detail}): build or download it again"
        )


@dataclass
class Limits:
    """How much one tarball may unpack to."""

    max_members: int = DEFAULT_MAX_MEMBERS
    max_bytes: int = DEFAULT_MAX_BYTES


@dataclass
class Tally:
    """What has been seen so far while walking a tarball."""

    members: int = 0
    bytes: int = 0


def check_path(member: tarfile.TarInfo) -> None:
    """Refuse absolute names, ``..`` components and empty or NUL-bearing names."""
    name = member.name
    if not name or "\0" in name:
        raise UnsafeArchive(f"member {name!r} has an empty or invalid name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchive(f"member {name!r} has an absolute path")
    if ".." in name.replace("\\", "/").split("/"):
        raise UnsafeArchive(f"member {name!r} contains '..'")


def check_type(member: tarfile.TarInfo) -> None:
    """Only regular files, folders, symlinks and hard links; never devices or FIFOs."""
    if member.ischr() or member.isblk():
        raise UnsafeArchive(f"member {member.name!r} is a device file")
    if member.isfifo():
        raise UnsafeArchive(f"member {member.name!r} is a FIFO")
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise UnsafeArchive(f"member {member.name!r} is a special file (type {member.type!r})")


def check_mode(member: tarfile.TarInfo) -> None:
    """Refuse setuid and setgid bits (the ``data`` filter would clear them silently)."""
    if member.mode & (stat.S_ISUID | stat.S_ISGID):
        raise UnsafeArchive(f"member {member.name!r} has a setuid or setgid bit")


def check_link(member: tarfile.TarInfo) -> None:
    """Symlinks and hard links must point inside the release."""
    if not (member.issym() or member.islnk()):
        return
    target = member.linkname
    if not target or target.startswith("/"):
        raise UnsafeArchive(f"link {member.name!r} points to an absolute path {target!r}")
    # A symlink is resolved from its own folder, a hard link from the archive's root.
    base = posixpath.dirname(member.name) if member.issym() else ""
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive(f"link {member.name!r} points outside the release ({target!r})")
    if member.islnk() and ".." in target.split("/"):
        raise UnsafeArchive(f"hard link {member.name!r} contains '..' ({target!r})")


def check_limits(member: tarfile.TarInfo, tally: Tally, limits: Limits) -> None:
    """Count the member and its bytes; refuse past either limit."""
    tally.members += 1
    tally.bytes += max(member.size, 0) if member.isreg() else 0
    if tally.members > limits.max_members:
        raise UnsafeArchive(
            f"the tarball has more than {limits.max_members} members "
            "(raise --max-files if the release really is that large)"
        )
    if tally.bytes > limits.max_bytes:
        raise UnsafeArchive(
            f"the tarball unpacks to more than {limits.max_bytes} bytes at {member.name!r} "
            "(raise --max-bytes if the release really is that large)"
        )


def check_member(member: tarfile.TarInfo, tally: Tally, limits: Limits) -> None:
    """Every rule, in the order that gives the most useful message."""
    check_limits(member, tally, limits)
    check_path(member)
    check_type(member)
    check_mode(member)
    check_link(member)


def scan(path: Path, limits: Limits, want: str | None = None) -> bytes | None:
    """Check every member of the tarball at ``path`` without unpacking it.

    Returns the content of the member whose name matches the glob ``want``
    (for ``releases/*/build_info.json``), or None.
    """
    found: bytes | None = None
    tally = Tally()
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                check_member(member, tally, limits)
                if want and found is None and member.isreg() and _matches(member.name, want):
                    f = tar.extractfile(member)
                    found = f.read(1024 * 1024) if f is not None else None
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UnreadableArchive(path, exc) from None
    return found


def _matches(name: str, pattern: str) -> bool:
    from fnmatch import fnmatchcase

    return fnmatchcase(name, pattern) and name.count("/") == pattern.count("/")


def safe_extract(path: Path, dest: Path, limits: Limits) -> None:
    """Unpack the tarball at ``path`` into the empty folder ``dest``, every rule applied.

    The caller unpacks into a temporary folder and removes it on failure.
    """
    tally = Tally()

    def rules(member: tarfile.TarInfo, dest_path: str) -> tarfile.TarInfo:
        check_member(member, tally, limits)
        try:
            return tarfile.data_filter(member, dest_path)
        except tarfile.FilterError as exc:
            raise UnsafeArchive(f"member {member.name!r} is unsafe: {exc}") from None

    try:
        with tarfile.open(path, "r:*") as tar:
            tar.extractall(dest, filter=rules)
    except (tarfile.TarError, EOFError) as exc:
        raise UnreadableArchive(path, exc) from None
