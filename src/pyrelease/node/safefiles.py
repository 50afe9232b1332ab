"""Runtime files another local user cannot redirect: the rules for ``RELEASE_TMP``.

The node (often run as root) writes pid files, logs, a FIFO and sockets under
``RELEASE_TMP``. Whoever can write in that folder, or replace it, could plant a
symbolic link named like one of those files and have the node overwrite what
the link points to. So:

* :func:`check_tmp`: ``RELEASE_TMP`` is made private (0700) when missing, and
  refused when it belongs to another user or others can write to it. Each
  folder above it must belong to root or to the user, and may be writable by
  others only with the sticky bit (as ``/tmp``): the sticky bit keeps them from
  renaming or removing a folder they do not own. These are OpenSSH's
  ``StrictModes`` rules, with systemd's allowance for sticky folders.
* :func:`private_dir`: a folder the node keeps inside it (``log/``, ``pipe/``,
  ``sockets/``) must be a real folder of the user's; one left too open by an
  earlier run is closed (0700) and what other users put in it removed.
* :func:`open_private`, :func:`write_atomic`, :func:`create_new`: files are
  opened with ``O_NOFOLLOW``; a file that is replaced is written aside and
  renamed over (``rename`` replaces a link, it never follows it).

Standard library only, and nothing imported at boot that is not loaded already.
"""

from __future__ import annotations

import errno
import os
import stat

from pyrelease.node.releaseenv import EnvError

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
# What opening something other than our own regular file fails with: a link
# (ELOOP; EMLINK on the BSDs), a FIFO or socket nobody reads (ENXIO), a file of
# another user (EACCES, EPERM).
_REPLACEABLE = {errno.ELOOP, errno.EMLINK, errno.ENXIO, errno.EACCES, errno.EPERM}
_MAX_LINKS = 40  # as the kernel's own limit on links followed in one path


class UnsafePath(EnvError):
    """A runtime folder or file other users could tamper with; the message says how to fix it."""


def _user(uid: int) -> str:
    import pwd  # only when there is something to say

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def _walk(path: str) -> tuple[list[tuple[str, os.stat_result]], str, str | None]:
    """Follow ``path`` as the kernel would: every existing entry met on the way
    (folders and links, with their ``lstat``), the real path reached, and the first
    missing name under it (None when ``path`` exists)."""
    todo = [part for part in path.split("/") if part]
    current, seen, hops = "/", [("/", os.lstat("/"))], 0
    while todo:
        name = todo.pop(0)
        if name in (".", ".."):
            current = os.path.dirname(current) if name == ".." else current
            continue
        entry = os.path.join(current, name)
        try:
            info = os.lstat(entry)
        except FileNotFoundError:
            return seen, current, name
        seen.append((entry, info))
        if stat.S_ISLNK(info.st_mode):
            hops += 1
            if hops > _MAX_LINKS:
                raise UnsafePath(f"too many symbolic links on the way to {path}")
            target = os.readlink(entry)
            current = "/" if target.startswith("/") else current
            todo[:0] = [part for part in target.split("/") if part]
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise UnsafePath(f"{entry} is not a folder: RELEASE_TMP must be one ({path})")
        current = entry
    return seen, current, None


def check_tmp(path: str, *, create: bool = True) -> None:
    """Make sure ``path`` (``RELEASE_TMP``) is a folder only this user can change.

    Creates it and any missing parent with mode 0700 when ``create`` (otherwise a
    missing folder is left to the caller). Raises :class:`UnsafePath` naming the
    folder and the fix otherwise; see the module docstring for the rules.
    """
    path = os.path.abspath(path)
    if os.name != "posix":  # no owners or modes to check: the folder is all there is
        if create:
            os.makedirs(path, exist_ok=True)
        return
    for _ in range(_MAX_LINKS):
        seen, real, missing = _walk(path)
        if missing is None:
            break
        _check_parents(seen, path)
        if not create:
            return
        try:
            os.mkdir(os.path.join(real, missing), 0o700)
        except FileExistsError:
            continue  # made meanwhile: walk again
        except PermissionError:
            me = _user(os.geteuid())
            raise UnsafePath(
                f"cannot create RELEASE_TMP {path}: {me} may not write in {real}; create it "
                f"for {me} (mkdir -m 700 DIR, then chown) or set RELEASE_TMP to a folder "
                f"{me} can write in"
            ) from None
    else:
        raise UnsafePath(f"could not create RELEASE_TMP {path}")
    _check_parents([(entry, info) for entry, info in seen if entry != real], path)
    _check_own_folder(os.lstat(real), real, path)


def _check_parents(seen: list[tuple[str, os.stat_result]], path: str) -> None:
    me = os.geteuid()
    for entry, info in seen:
        if info.st_uid not in (0, me):
            kind = "symbolic link" if stat.S_ISLNK(info.st_mode) else "folder"
            raise UnsafePath(
                f"the {kind} {entry}, on the way to RELEASE_TMP {path}, belongs to user "
                f"{_user(info.st_uid)}, who could swap what is inside it: set RELEASE_TMP to "
                f"a folder whose parents belong to root or to {_user(me)}"
            )
        open_to_others = info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX
        if stat.S_ISDIR(info.st_mode) and open_to_others:
            raise UnsafePath(
                f"{entry}, a parent of RELEASE_TMP {path}, can be written by other users and "
                f"has no sticky bit, so they could swap RELEASE_TMP: run chmod go-w {entry} "
                "(or chmod +t), or set RELEASE_TMP elsewhere"
            )


def _check_own_folder(info: os.stat_result, real: str, path: str) -> None:
    me = os.geteuid()
    shown = path if real == path else f"{path} ({real})"
    if info.st_uid != me:
        raise UnsafePath(
            f"RELEASE_TMP {shown} belongs to user {_user(info.st_uid)}, not to {_user(me)} "
            "who runs the node, so they could plant links in it: remove it, or set "
            "RELEASE_TMP to a folder of your own (mkdir -m 700 DIR)"
        )
    if info.st_mode & 0o022:
        fix = (
            "set RELEASE_TMP to a private folder of its own inside it (mkdir -m 700 DIR)"
            if info.st_mode & stat.S_ISVTX
            else f"make it private with chmod 700 {real}"
        )
        raise UnsafePath(
            f"RELEASE_TMP {shown} can be written by other users "
            f"(mode {stat.S_IMODE(info.st_mode):04o}), so they could plant links in it: {fix}"
        )


def private_dir(path: str) -> str:
    """Create the folder ``path`` (0700) inside a checked ``RELEASE_TMP``, or make sure
    the one there is a real folder of this user's, closing it (0700) if it is open.

    When it was writable by others, what they put in it is removed. Returns ``path``;
    raises :class:`UnsafePath` when it is a link, not a folder or another user's.
    """
    try:
        os.mkdir(path, 0o700)
        return path
    except FileExistsError:
        if os.name != "posix":
            return path
    try:
        fd = os.open(path, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
            raise
        raise UnsafePath(
            f"{path} is not a folder (a symbolic link or a file): remove it, and the node "
            "makes the folder again, private"
        ) from None
    try:
        info, me = os.fstat(fd), os.geteuid()
        if info.st_uid != me:
            raise UnsafePath(
                f"{path} belongs to user {_user(info.st_uid)}, not to {_user(me)} who runs "
                "the node: remove it, and the node makes the folder again, private"
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
        if info.st_mode & 0o022:
            _remove_foreign(path, me)
    finally:
        os.close(fd)
    return path


def _remove_foreign(folder: str, me: int) -> None:
    """Entries of other users in a folder that was open to them (planted links...)."""
    for name in os.listdir(folder):
        entry = os.path.join(folder, name)
        try:
            if os.lstat(entry).st_uid != me:
                os.unlink(entry)
        except IsADirectoryError:
            raise UnsafePath(
                f"{entry} was put there by another user: remove it (rm -r {entry})"
            ) from None
        except FileNotFoundError:
            continue


def open_private(path: str, flags: int = os.O_WRONLY, mode: int = 0o600) -> int:
    """Open the regular file ``path`` of this user's, creating it with ``mode``.

    Never follows a link: whatever else has the name (a link, a FIFO, a hard link
    to another file, another user's file) is removed and a new file made in its
    place, so call this only inside a private folder. ``flags`` are ``os.open``
    access flags (``O_TRUNC`` and ``O_APPEND`` work as usual). Returns the
    descriptor (close-on-exec).
    """
    base = flags | os.O_CREAT | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NOCTTY", 0)
    for attempt in range(3):
        exclusive = os.O_EXCL if attempt else 0
        try:
            fd = os.open(path, (base | exclusive | _NONBLOCK) & ~os.O_TRUNC, mode)
        except IsADirectoryError:
            raise _folder_in_the_way(path) from None
        except OSError as exc:
            if exc.errno not in _REPLACEABLE and not isinstance(exc, FileExistsError):
                raise
            _unlink(path)
            continue
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid() and info.st_nlink == 1:
            os.set_blocking(fd, True)
            if flags & os.O_TRUNC:
                os.ftruncate(fd, 0)
            return fd
        os.close(fd)
        _unlink(path)
    raise UnsafePath(f"could not create {path} safely: something keeps replacing it")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except IsADirectoryError:
        raise _folder_in_the_way(path) from None


def _folder_in_the_way(path: str) -> UnsafePath:
    return UnsafePath(f"{path} is a folder, where the node keeps a file: remove it")


def _aside(path: str, mode: int) -> tuple[str, int]:
    """A new file beside ``path``, with a name nobody can guess."""
    folder, name = os.path.split(path)
    temporary = os.path.join(folder, f".{name}.{os.getpid()}-{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
    return temporary, os.open(temporary, flags, mode)


def _write_all(fd: int, data: bytes) -> None:
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with a new file holding ``data``: written aside, then renamed
    over it, so a reader never sees half of it and a link at ``path`` is replaced,
    never followed."""
    temporary, fd = _aside(path, mode)
    try:
        _write_all(fd, data)
        os.replace(temporary, path)
    except BaseException:
        _unlink(temporary)
        raise


def create_new(path: str, data: bytes, mode: int = 0o600) -> bool:
    """Create ``path`` holding ``data``, complete from the first moment it exists;
    False (and nothing written) when something already has that name, link or not."""
    temporary, fd = _aside(path, mode)
    try:
        _write_all(fd, data)
        os.link(temporary, path)  # atomic, and never replaces what is there
        return True
    except FileExistsError:
        return False
    except OSError as exc:  # a file system without hard links: create it in place
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
        try:
            _write_all(os.open(path, flags, mode), data)
        except FileExistsError:
            return False
        return True
    finally:
        _unlink(temporary)
