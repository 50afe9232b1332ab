"""The command's process as a fork of the starting node, instead of a new interpreter.

A release whose command starts before the node boots (see ``earlystart``) and
is a Python program on the node's own interpreter does not need an
interpreter start-up of its own. Once the node holds its lock and has started
the watchdog, it forks (:func:`fork_command`), having imported what its
``python`` command needs; the child becomes the process ``cmdproc.spawn`` would
have started: the watchdog's process group, stdin from ``/dev/null``, no other
descriptor of the node's, a fresh interpreter's signal dispositions and
buffering, the working directory, the environment, ``sys.orig_argv``, and its
command line as ``ps`` shows it. Then ``__main__`` runs the node's ``python``
command in it, from the top of the stack, as in a spawned interpreter. A
child that cannot join the watchdog's group (the watchdog is gone) runs
nothing: it exits with status 126.
"""

import _signal
import _thread
import posix
import sys

PYTHON_ARGS = 4  # [python, -I, -S, __main__] before the node's ``python`` command line


def fork_command(argv: "list[str]", env: "dict[str, str]", cwd: str, pgid: int) -> "int | None":
    """In the node: fork a child to run ``argv`` (``cmdproc.resolve``'s, a Python
    program on this interpreter) in ``cwd`` with ``env`` as its environment, in
    process group ``pgid``. The child's pid in the node; 0 in the child, once it
    is that process; None when it cannot be forked (the caller spawns it)."""
    if not hasattr(posix, "fork") or _thread._count():
        return None  # (a fork copies only the calling thread)
    # Worked out here, before the fork: in the child every page it writes is copied
    # first, which makes the same work several times slower there.
    changes = _environ_changes(env, cwd)
    title = _title(argv)
    fds = _open_fds()
    for stream in (sys.stdout, sys.stderr):  # or the child would write the node's output again
        if stream is not None:
            stream.flush()
    # No handler of the node's may run in the child: signals wait, in both, until the
    # child has a new interpreter's dispositions (a signal meant for the node comes
    # to the node just after).
    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    try:
        pid = posix.fork()
    except OSError:
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        return None
    if pid:
        try:
            posix.setpgid(pid, pgid)  # as a spawn's setpgroup: whichever comes first
        except OSError:
            pass  # the child's own call decides (and it ends if that fails)
        _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)
        return pid
    try:
        _become(argv, cwd, pgid, changes, title, fds, mask)
    except KeyboardInterrupt:  # Ctrl-C reached the node's group: the node stops too
        posix._exit(130)
    except BaseException as exc:
        try:
            posix.write(2, f"[node] the command's process could not start: {exc}\n".encode())
        except OSError:
            pass  # no stderr: the status says it (and the child must not go on as the node)
        posix._exit(126)
    return 0


def _open_fds() -> "list[int] | None":
    """``cmdproc.open_fds`` (a fork has the same descriptors); None where ``/dev/fd``
    cannot be listed (the child then closes every number up to the limit)."""
    from pyrelease.node.cmdproc import open_fds

    try:
        return open_fds()
    except (OSError, ValueError):
        return None


def _environ_changes(env: "dict[str, str]", cwd: str) -> "tuple[list[str], dict[str, str]]":
    """What makes this process's environment ``env`` as a spawned command in ``cwd``
    gets it: the variables to remove, and those to set."""
    import os

    env = dict(env)
    # As the shell's cd exports them to a spawned command (see cmdproc.CHDIR).
    env["PWD"] = os.path.normpath(cwd)
    old = _shell_cwd()
    if old is not None:
        env["OLDPWD"] = old
    environ = os.environ
    removed = [name for name in environ if name not in env]
    return removed, {name: value for name, value in env.items() if environ.get(name) != value}


def _become(
    argv: "list[str]",
    cwd: str,
    pgid: int,
    changes: "tuple[list[str], dict[str, str]]",
    title: "tuple[int, bytes] | None",
    fds: "list[int] | None",
    mask: "set[int]",
) -> None:
    """In the fork, with every signal blocked: everything ``cmdproc.spawn`` and ``exec``
    would give the process; then ``mask`` (the node's signal mask) again."""
    import os

    from pyrelease.node.cmdproc import DEFAULT_SIGNALS, FORWARDED

    try:
        os.setpgid(0, pgid)
    except OSError:
        pass  # the node has set it, or the group is gone: see below
    if os.getpgid(0) != pgid:  # outside the watchdog's group nothing would end it with the node
        raise OSError(f"cannot join the process group {pgid} of its watchdog")
    # What the node catches is reset by exec; the rest (SIGQUIT ignored by `start &` in
    # a script) a spawned command inherits as the node had it, as this process has it.
    for name in ("SIGTERM", *FORWARDED):
        _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    for signum in DEFAULT_SIGNALS:  # what a starting interpreter ignores
        _signal.signal(signum, _signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDONLY)
    if null != 0:  # (0 when the node started with it closed)
        os.dup2(null, 0)
        os.close(null)
    if fds is None:
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    for fd in fds or ():  # the node's lock, pipes, what it inherited
        try:
            os.close(fd)
        except OSError:
            pass  # the listing's own descriptor
    for fd in (1, 2):  # a node started with 1 or 2 closed opened its own files there
        try:
            if not os.get_inheritable(fd):
                os.close(fd)  # as exec closes them (close-on-exec)
        except OSError:
            pass  # not open: as the node got it
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise OSError(f"cannot change to {cwd}: {exc.strerror}") from None
    removed, changed = changes
    environ = os.environ
    for name in removed:
        del environ[name]
    for name, value in changed.items():
        environ[name] = value
    _fresh_stdio()
    sys.orig_argv = list(argv)  # the command line a spawned interpreter would have had
    if title is not None:
        _retitle(*title)
    _signal.pthread_sigmask(_signal.SIG_SETMASK, mask)


def _shell_cwd() -> "str | None":
    """The working directory as a shell names it: ``$PWD`` when that is it, else the
    real path; None when there is none."""
    import os

    pwd = os.environ.get("PWD")
    try:
        if pwd and pwd.startswith("/") and os.path.samefile(pwd, "."):
            return pwd
        return os.getcwd()
    except OSError:
        return None


def _fresh_stdio() -> None:
    """A starting interpreter's ``sys.stdin`` on ``/dev/null`` (the node's was made for
    its own stdin: a pipe or a terminal is not seekable, a terminal line-buffered), and
    its buffering for stdout and stderr, where the node's are unbuffered (``-u``, as the
    daemon runs it)."""
    import io  # loaded at start-up: no file read

    like = sys.stdin or sys.stdout  # same encoding and errors; None: fd 0 closed at start
    if like is not None:
        buffer = open(0, "rb", closefd=False)  # noqa: SIM115 (as the interpreter: st_blksize)
        buffer.raw.name = "<stdin>"
        fresh_in = io.TextIOWrapper(buffer, like.encoding, like.errors, newline="\n")
        fresh_in.mode = "r"
        sys.stdin = sys.__stdin__ = fresh_in
    for name, fd in (("stdout", 1), ("stderr", 2)):
        stream = getattr(sys, name)
        if stream is None or not getattr(stream, "write_through", False):
            continue
        line = True if fd == 2 else posix.isatty(fd)
        raw = io.FileIO(fd, "w", closefd=False)
        raw.name = f"<{name}>"  # as the interpreter names its own (and mode below)
        fresh = io.TextIOWrapper(
            io.BufferedWriter(raw), stream.encoding, stream.errors, line_buffering=line
        )
        fresh.mode = "w"
        setattr(sys, name, fresh)
        setattr(sys, f"__{name}__", fresh)


def _title(argv: "list[str]") -> "tuple[int, bytes] | None":
    """Where this process's command line is in its memory, and the bytes that show
    the program of ``argv`` there instead (``ps``, ``/proc/PID/cmdline``): the
    script and its arguments, or ``python -m MODULE ...``; cut to the length
    there is. A fork has its parent's memory layout, so the node works it out
    for the child. None where ``/proc`` does not tell.
    """
    words = argv[PYTHON_ARGS + 1 :]  # the script and its arguments, or -m MODULE ...
    if words[:1] == ["-m"]:
        words = ["python", *words]
    try:
        fd = posix.open("/proc/self/stat", posix.O_RDONLY)
        try:
            fields = posix.read(fd, 4096).rsplit(b")", 1)[1].split()
        finally:
            posix.close(fd)
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
    except (OSError, ValueError, IndexError):
        return None
    text = "\0".join(words).encode("utf-8", "surrogateescape")[: end - start - 1]
    return start, text + b"\0" * (end - start - len(text))


def _retitle(start: int, data: bytes) -> None:
    """Write ``data`` over the command line at ``start`` (see :func:`_title`), through
    ``/proc/self/mem`` as ``setproctitle`` does in memory. Best effort: left as it is
    where that is not possible."""
    try:
        fd = posix.open("/proc/self/mem", posix.O_WRONLY)
        try:
            posix.pwrite(fd, data, start)
        finally:
            posix.close(fd)
    except OSError:
        pass
