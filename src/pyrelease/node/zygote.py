"""The command's process, forked from the starting node before the node knows its command.

A release whose command starts before the node boots (see ``earlystart``)
and is a Python program on the node's own interpreter does not need an
interpreter start-up of its own: ``__main__`` forks the node as the very first
thing it does for ``start`` (:func:`fork`), before the node's own imports. While
the node works the command out (its lock, the plan, the variables, the
watchdog), the fork imports what the node's ``python`` command needs; the
node then hands it the command (:meth:`Zygote.hand_over`), and it becomes the
process ``cmdproc.spawn`` would have started: its process group, stdin from
``/dev/null``, no other descriptor of the node's, a fresh interpreter's signal
dispositions and buffering, the working directory, the environment, and its
command line as ``ps`` shows it. It runs nothing of the release before that:
when the node hands it nothing it ends silently (:meth:`Zygote.cancel` kills
it; when the node is gone it exits, status 0), and a fork the node cannot put
in the watchdog's process group is never handed the command.

Standard library built-ins only (``posix``, ``_signal``, ``_thread``): it runs
before ``os`` is imported, which the fork then imports alongside the node.
"""

import _signal
import _thread
import posix
import sys

PYTHON_ARGS = 4  # [python, -I, -S, __main__] before the node's ``python`` command line


class Zygote:
    """The fork (``pid`` 0 in it, the fork's pid in the node) and the node's end of
    the pipe it waits on."""

    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self._fd = pid, fd

    def hand_over(
        self, argv: "list[str]", env: "dict[str, str]", cwd: str, pgid: int
    ) -> "int | None":
        """In the node: make the fork run ``argv`` (``cmdproc.resolve``'s, a Python
        program on this interpreter) in ``cwd`` with ``env`` as its environment, in
        process group ``pgid``; its pid, or None when it is gone (then the caller
        spawns the command)."""
        if self._fd < 0:
            return None
        import marshal  # built in

        try:
            posix.setpgid(self.pid, pgid)  # before it reads a byte: the fork's own comes later
        except OSError:
            # Gone (spawning says what is wrong), or the group is (the watchdog is dead):
            # outside the watchdog's group nothing would kill it with the node.
            self.cancel()
            return None
        data = memoryview(marshal.dumps((argv, env, cwd, pgid)))
        try:
            while data:
                data = data[posix.write(self._fd, data) :]
        except OSError:
            self.cancel()
            return None
        posix.close(self._fd)
        self._fd = -1
        return self.pid

    def cancel(self) -> None:
        """In the node: nothing to run for the fork; it is killed, and reaped here."""
        if self._fd < 0:
            return
        posix.close(self._fd)
        self._fd = -1
        try:  # it has run nothing of the release: no need to wait for its imports
            posix.kill(self.pid, _signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            posix.waitpid(self.pid, 0)
        except ChildProcessError:
            pass

    def wait(self, prepare: "object" = None) -> "list[str]":
        """In the fork: ``prepare()`` meanwhile, then wait for the command, set the
        process up for it, and return the node's ``python`` arguments that run it.
        Exits when there is none: it never returns to the node's code otherwise."""
        try:
            if prepare is not None:
                prepare()  # type: ignore[operator]
            import marshal

            chunks = []
            while chunk := posix.read(self._fd, 65536):
                chunks.append(chunk)
            if not chunks:
                posix._exit(0)  # the node starts no command this way, or is gone
            argv, env, cwd, pgid = marshal.loads(b"".join(chunks))
            _become(argv, env, cwd, pgid)
            return argv[PYTHON_ARGS:]
        except KeyboardInterrupt:  # Ctrl-C reached the node's group: the node stops too
            posix._exit(130)
        except BaseException as exc:
            posix.write(2, f"[node] the command's process could not start: {exc!r}\n".encode())
            posix._exit(126)


def prepare_command() -> None:
    """In the fork, while it waits: the imports of the node's ``python`` command (inside
    :meth:`Zygote.wait`, so that even a Ctrl-C meanwhile ends it silently)."""
    from pyrelease.node import interp  # noqa: F401


def fork() -> "Zygote | None":
    """Fork now if this ``start`` will start its command early (the build wrote
    ``releases/VSN/start.command``) and can: the :class:`Zygote` in both
    processes, None otherwise."""
    environ = posix.environ
    root, vsn = environ.get(b"RELEASE_ROOT"), environ.get(b"RELEASE_VSN")
    script = environ.get(b"RELEASE_BOOT_SCRIPT") or b"start"
    if not root or not vsn or not hasattr(posix, "fork") or _thread._count():
        return None  # (a fork copies only the calling thread)
    try:
        posix.stat(b"%s/releases/%s/%s.command" % (root, vsn, script))
    except (OSError, ValueError):
        return None
    read_end, write_end = posix.pipe()  # close-on-exec: a re-executed node does not keep it
    try:
        pid = posix.fork()
    except OSError:
        posix.close(read_end)
        posix.close(write_end)
        return None
    if pid == 0:
        posix.close(write_end)
        return Zygote(0, read_end)
    posix.close(read_end)
    return Zygote(pid, write_end)


def _become(argv: "list[str]", env: "dict[str, str]", cwd: str, pgid: int) -> None:
    """In the fork: everything ``cmdproc.spawn`` and ``exec`` would give the process."""
    import os

    from pyrelease.node.cmdproc import DEFAULT_SIGNALS, FORWARDED

    mask = _signal.pthread_sigmask(_signal.SIG_BLOCK, _signal.valid_signals())
    try:
        os.setpgid(0, pgid)
    except OSError:
        pass  # the node has set it
    # What the node catches is reset by exec; the rest (SIGQUIT ignored by `start &` in
    # a script) a spawned command inherits as the node had it, as this process has it.
    for name in ("SIGTERM", *FORWARDED):
        _signal.signal(getattr(_signal, name), _signal.SIG_DFL)
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)
    for signum in DEFAULT_SIGNALS:  # what a starting interpreter ignores
        _signal.signal(signum, _signal.SIG_IGN)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the pipe, and anything the node inherited
    old = _shell_cwd()
    try:
        os.chdir(cwd)
    except OSError as exc:
        os.write(2, f"cannot change to {cwd}: {exc.strerror}\n".encode())
        os._exit(126)
    os.environ.clear()
    os.environ.update(env)
    # As the shell's cd exports them to a spawned command (see cmdproc.CHDIR).
    os.environ["PWD"] = os.path.normpath(cwd)
    if old is not None:
        os.environ["OLDPWD"] = old
    _fresh_stdio()
    sys.orig_argv = list(argv)  # the command line a spawned interpreter would have had
    words = argv[PYTHON_ARGS + 1 :]  # the script and its arguments, or -m MODULE ...
    _retitle(["python", *words] if words[:1] == ["-m"] else words)
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
    """The buffering of a starting interpreter for stdout and stderr, where the node's
    are unbuffered (``-u``, as the daemon runs it)."""
    import io  # loaded at start-up: no file read

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


def _retitle(words: "list[str]") -> None:
    """Show ``words`` as this process's command line (``ps``, ``/proc/PID/cmdline``).

    Written over the command line's own bytes through ``/proc/self/mem``, as
    ``setproctitle`` does in memory; cut to their length. Best effort: left as
    it is where that is not possible.
    """
    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[45]), int(fields[46])  # arg_start, arg_end (fields 48, 49)
        text = "\0".join(words).encode("utf-8", "surrogateescape")[: end - start - 1]
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(text + b"\0" * (end - start - len(text)))
    except (OSError, ValueError, IndexError):
        pass
