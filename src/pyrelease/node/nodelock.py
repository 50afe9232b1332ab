"""One node per name: the lock ``start`` takes before anything else.

``$RELEASE_TMP/NODE.lock`` (``NODE`` the name part of ``RELEASE_NODE``) is locked
with ``flock`` for the node's whole life and holds its pid. A second ``start``
of the same node, even at the very same moment, fails to take it and says so;
the lock goes with the process, so a node killed with SIGKILL never blocks the
next start. ``stop --force`` reads the pid of the node that holds it.
"""

from __future__ import annotations

import os
import time

from pyrelease.node import safefiles
from pyrelease.node.releaseenv import AlreadyRunning, Env, EnvError

# The descriptor handed to the next image when the node re-executes itself
# (``reboot_system_after_config``), so that the lock is never let go meanwhile.
FD_VARIABLE = "PYRELEASE_NODE_LOCK_FD"
# How long a start waits for a lock held by no live node (see ``acquire``).
PATIENCE = 5.0


def lock_path(env: Env) -> str:
    """``$RELEASE_TMP/NODE.lock``."""
    return os.path.join(env.tmp, f"{env.node_name}.lock")


def acquire(env: Env) -> int | None:
    """Lock the node's lock file and write our pid in it; return the descriptor.

    Raise :class:`AlreadyRunning` when another process holds it and the pid
    in it is alive; a lock held by no live node (``stop`` reading it, a node
    that has not written its pid yet) is waited for, ``PATIENCE`` s at most. A node that
    exits removes the file while it still holds the lock, so a file locked
    here but no longer at that path is let go and the new one locked instead.
    Without ``flock`` (Windows) there is no lock: None; the control channel's
    address is then what refuses a second node.
    """
    try:
        import fcntl
    except ImportError:
        return None

    path = lock_path(env)
    inherited = os.environ.pop(FD_VARIABLE, None)
    patience = time.monotonic() + PATIENCE
    replaced = 0
    while replaced < 20:
        fd = _adopt(inherited) if inherited is not None else None
        inherited = None
        if fd is None:
            fd = _open(env, path)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = _holder_pid(path)
            if not _running(pid) and time.monotonic() < patience:
                # Held, but not by the node whose pid it holds: `stop` reading it
                # (a shared lock for an instant), or a node about to write its pid.
                time.sleep(0.01)
                continue
            raise AlreadyRunning(
                f"node {env.node_name} is already running or starting "
                f"(pid {pid if pid is not None else 'unknown'}; it holds {path}); stop it "
                "first, or give this one another name with RELEASE_NODE"
            ) from None
        except OSError:
            os.close(fd)
            raise
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False  # a node removed it while exiting: lock the new file
        if same:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)
        replaced += 1
    raise EnvError(f"could not lock {path}: it keeps being replaced")


def _running(pid: int | None) -> bool:
    """``pid`` is a live process other than this one."""
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _adopt(text: str) -> int | None:
    """The lock descriptor the previous image of this process handed over, if valid."""
    if not text.isdigit():
        return None
    try:
        os.set_inheritable(int(text), False)
    except OSError:
        return None
    return int(text)


def _open(env: Env, path: str) -> int:
    safefiles.check_tmp(env.tmp)  # another user's RELEASE_TMP is refused (UnsafePath)
    try:
        return safefiles.open_private(path, os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise EnvError(
            f"cannot open the node's lock file {path}: {exc.strerror}; RELEASE_TMP must be "
            "a folder this user can write"
        ) from None


def _holder_pid(path: str) -> int | None:
    """The pid written by the lock's holder (it may be writing it right now)."""
    for _ in range(50):
        try:
            with open(path, encoding="ascii", errors="replace") as f:
                text = f.read().strip()
        except OSError:
            return None
        if text.isdigit():
            return int(text)
        time.sleep(0.01)
    return None


def hand_over(fd: int) -> None:
    """Keep the lock across ``exec``: the new image takes it over (see ``acquire``)."""
    os.set_inheritable(fd, True)
    os.environ[FD_VARIABLE] = str(fd)


def release(env: Env, fd: int) -> None:
    """Remove the lock file while still holding the lock, then let go of it."""
    try:
        if os.stat(lock_path(env)).st_ino == os.fstat(fd).st_ino:
            os.unlink(lock_path(env))
    except OSError:
        pass
    os.close(fd)


def holder(env: Env) -> int | None:
    """The pid of the node that holds the lock here, None when no node does.

    Raise :class:`~pyrelease.node.safefiles.UnsafePath` when another user could
    have planted the lock and its pid (``stop --force`` would signal that pid).
    """
    try:
        import fcntl
    except ImportError:
        return None

    safefiles.check_tmp(env.tmp, create=False)
    path = lock_path(env)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_pid(path)  # held: a node runs (or starts)
        return None  # nobody holds it: a stale file
    finally:
        os.close(fd)  # also lets go of a lock taken above
