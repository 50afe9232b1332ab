"""Management commands that talk to a running node: pid, rpc, remote, stop, restart.

They import only the channel code (no application, no configuration) and of
the standard library only what a connection needs: ``_socket`` rather than
``socket`` (which brings ``enum`` and ``selectors``), ``ssl`` only when TLS is
configured, no ``json`` or ``hmac`` (see ``jsonframe`` and ``hmacsha``). Each
answers a few milliseconds after the interpreter has started. Messages say which failure it is: no
node running (and where we looked), the cookie refused, or no channel at all.
"""

import _socket
import sys
import time

from pyrelease.node import channel, tcp, vmargs
from pyrelease.node.cookie import cookie_path, read_cookie
from pyrelease.node.liteos import os
from pyrelease.node.releaseenv import Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds; annotations are strings
if TYPE_CHECKING:
    from socket import socket as Socket


class ClientError(Exception):
    """A management command failed; printed as one ``ERROR:`` line."""


def stop_timeout() -> float:
    """``RELEASE_STOP_TIMEOUT``: how long ``stop`` waits for the node (60 s unless set)."""
    text = os.environ.get("RELEASE_STOP_TIMEOUT", "").strip()
    if not text:
        return 60.0
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):  # also refuses nan
        raise ClientError(f"RELEASE_STOP_TIMEOUT must be a number 0 or more, got {text!r}")
    return value


def connect(env: "Env", command: str) -> "tuple[channel.Session, dict]":
    """Open an authenticated connection to the node named by ``env``.

    Connecting and the handshake share one deadline (``channel.CLIENT_TIMEOUT``);
    a node that is busy with unauthenticated connections is asked again until
    then. Replies are then awaited for as long again, unless a command lifts it.
    """
    env.check_distribution()
    if env.distribution == "none":
        raise ClientError(
            f"node {env.node_name} runs without a control channel (RELEASE_DISTRIBUTION=none), "
            f"so `{command}` cannot reach it"
        )
    secret = read_cookie(env.root)
    if secret is None:
        raise ClientError(
            f"no cookie: RELEASE_COOKIE is not set and {cookie_path(env.root)} does not exist "
            f"(the node creates it on its first start; is node {env.node_name} started?)"
        )
    deadline = time.monotonic() + channel.CLIENT_TIMEOUT
    while True:
        sock, where = _open(env, deadline)
        try:
            session, welcome = channel.client_handshake(sock, secret, deadline)
        except channel.Busy:
            sock.close()
            if time.monotonic() + 0.1 < deadline:
                time.sleep(0.1)
                continue
            raise ClientError(_no_answer(env, where)) from None
        except channel.Refused as exc:
            sock.close()
            raise ClientError(f"node {env.node_name} refused the connection: {exc}") from None
        except TimeoutError:
            sock.close()
            raise ClientError(_no_answer(env, where)) from None
        except (OSError, EOFError, channel.ProtocolError) as exc:
            sock.close()
            raise ClientError(
                f"the connection to node {env.node_name} at {where} failed: "
                f"{_words(exc)}{_tls_hint(env, sock, exc)}"
            ) from None
        sock.settimeout(channel.CLIENT_TIMEOUT)
        return session, welcome


def _words(exc: BaseException) -> str:
    """An ``ssl`` error's reason in words (``tlsv1 alert unknown ca``), else the error."""
    reason = getattr(exc, "reason", None)
    return reason.replace("_", " ").lower() if isinstance(reason, str) else str(exc)


def _tls_hint(env: "Env", sock: "Socket", exc: BaseException) -> str:
    """What to check when a ``name`` connection fails during the handshake."""
    if env.distribution != "name":
        return ""
    ssl = sys.modules.get("ssl")  # imported only when TLS is configured
    if ssl is None or not isinstance(sock, ssl.SSLSocket):
        return " (if the node uses TLS, set RELEASE_TLS_CA and RELEASE_TLS_CERT here too)"
    reason = str(getattr(exc, "reason", "") or "")
    if "CERTIFICATE_REQUIRED" in reason:
        return (
            " (the node requires a client certificate: set RELEASE_TLS_CERT and "
            "RELEASE_TLS_KEY to one signed by the node's CA)"
        )
    if "UNKNOWN_CA" in reason or "BAD_CERTIFICATE" in reason:
        return " (the node does not trust this side's certificate, RELEASE_TLS_CERT)"
    return ""


def _no_answer(env: "Env", where: str) -> str:
    return (
        f"node {env.node_name} did not answer within {channel.CLIENT_TIMEOUT:g} s at {where} "
        "(it may be suspended, overloaded or flooded with connections); try again"
    )


def _open(env: "Env", deadline: float) -> "tuple[Socket, str]":
    if env.distribution == "sname":
        return _open_unix(env, deadline), channel.unix_path(env)
    port = env.dist_port
    if not port:
        try:
            with open(channel.port_file(env), encoding="utf-8") as f:
                port = f.read().strip()
        except FileNotFoundError:
            raise ClientError(
                f"no node {env.node_name} is running here (no {channel.port_file(env)}); "
                "set RELEASE_DIST_PORT to reach a node on another host"
            ) from None
    where = f"{env.node_host}:{port}"
    try:
        sock = tcp.connect(env.node_host, int(port), deadline=deadline)
    except TimeoutError:
        raise ClientError(_no_answer(env, where)) from None
    except OSError:
        raise ClientError(
            f"no node {env.node_name} is running (nothing answers at {where})"
        ) from None
    from pyrelease.node import tlsconfig

    tls = tlsconfig.settings(env, vmargs.load(env.remote_vm_args))
    if tls is not None:
        sock = _start_tls(env, sock, tlsconfig.client_context(tls), where, deadline)
    return sock, where


def _open_unix(env: "Env", deadline: float) -> "Socket":
    path = channel.unix_path(env)
    while True:
        sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            channel.connect_unix(sock, path)
            return sock
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise ClientError(f"no node {env.node_name} is running (looked for {path})") from None
        except (BlockingIOError, TimeoutError):  # its listen queue is full
            sock.close()
            if time.monotonic() + 0.05 >= deadline:
                raise ClientError(_no_answer(env, path)) from None
            time.sleep(0.05)


def _start_tls(env: "Env", sock: "Socket", ctx: object, where: str, deadline: float) -> "Socket":
    import ssl

    assert isinstance(ctx, ssl.SSLContext)
    tls = ctx.wrap_socket(
        tcp.full_socket(sock), server_hostname=env.node_host, do_handshake_on_connect=False
    )
    tls.settimeout(max(deadline - time.monotonic(), 0.01))
    try:
        tls.do_handshake()
    except ssl.SSLCertVerificationError as exc:
        tls.close()
        raise ClientError(
            f"the TLS certificate of node {env.node_name} at {where} is not trusted "
            f"({exc.verify_message}); set RELEASE_TLS_CA to the CA that signed it"
        ) from None
    except TimeoutError:
        tls.close()
        raise ClientError(_no_answer(env, where)) from None
    except OSError as exc:  # ssl.SSLError, a reset...
        tls.close()
        reason = getattr(exc, "reason", None) or exc
        raise ClientError(
            f"the TLS handshake with node {env.node_name} at {where} failed ({reason}); "
            "does the node use TLS (RELEASE_TLS_CERT, RELEASE_TLS_KEY, RELEASE_TLS_CA)?"
        ) from None
    return tls


def cmd_pid(env: "Env", argv: list[str]) -> int:
    """Print the node's OS pid."""
    sock, _ = connect(env, "pid")
    with sock:
        channel.send(sock, {"op": "pid"})
        print(channel.recv(sock)["pid"])
    return 0


def _show(msg: dict) -> None:
    """Print output the node sent back, on the stream it was written to."""
    stream = sys.stderr if msg.get("stream") == "stderr" else sys.stdout
    stream.write(msg["out"])
    stream.flush()


def _ask(sock: "Socket", env: "Env", op: str, failed: str) -> None:
    """Send a lifecycle request; raise with ``failed`` when the node reports an error."""
    channel.send(sock, {"op": op})
    reply = channel.recv(sock)
    if "error" in reply:
        raise ClientError(f"node {env.node_name} {failed}: {reply['error']}")


def cmd_rpc(env: "Env", argv: list[str]) -> int:
    """Run code inside the node; its output comes back here."""
    if not argv:
        raise ClientError("RPC expects an expression as argument")
    sock, _ = connect(env, "rpc")
    with sock:
        sock.settimeout(None)  # the code may take as long as it needs
        channel.send(sock, {"op": "rpc", "code": argv[0]})
        while True:
            msg = channel.recv(sock)
            if "out" in msg:
                _show(msg)
            elif msg.get("done"):
                return int(msg.get("status", 0))


def cmd_remote(env: "Env", argv: list[str]) -> int:
    """A Python REPL inside the running node; Ctrl-D leaves it, the node keeps running."""
    sock, _ = connect(env, "remote")
    try:
        import readline  # noqa: F401 - line editing on the caller's side
    except ImportError:
        pass
    print(
        f"Connected to node {env.node_name} ({env.name} {env.vsn}). "
        "Ctrl-D leaves; the node keeps running."
    )
    with sock:
        sock.settimeout(None)  # the REPL waits for the user
        channel.send(sock, {"op": "remote"})
        while True:
            msg = channel.recv(sock)
            if "out" in msg:
                _show(msg)
            elif "prompt" in msg:
                try:
                    line = input(msg["prompt"])
                except EOFError:
                    print()
                    channel.send(sock, {"eof": True})
                except KeyboardInterrupt:
                    print("\nKeyboardInterrupt")
                    channel.send(sock, {"line": ""})
                else:
                    channel.send(sock, {"line": line})
            elif msg.get("done"):
                return 0


def cmd_stop(env: "Env", argv: list[str]) -> int:
    """Ask the node to stop and return once its process is gone.

    When it is not gone after ``RELEASE_STOP_TIMEOUT`` seconds (or does not
    even answer: an ``rpc`` holding the interpreter in C code), ``--force``, or
    the node being a daemon's, kills it with SIGKILL and says so.
    """
    force = _stop_options(argv)
    timeout = stop_timeout()
    try:
        sock, welcome = connect(env, "stop")
    except ClientError as exc:
        if isinstance(exc.__context__, channel.Refused):
            raise  # the wrong cookie: never a reason to use signals
        pid = _local_node(env)
        if pid is None:
            raise  # no node runs here: the channel's own message says it best
        _unanswered(env, pid, force, str(exc), timeout)
        return 0
    with sock:
        sock.settimeout(max(timeout, 0.01))  # a node stuck holding the interpreter never answers
        try:
            _ask(sock, env, "stop", "could not stop")
            while sock.recv(4096):  # the node holds this connection until its process exits
                pass
        except EOFError:
            pass  # the node went away right after taking the request: stopped
        except TimeoutError:
            pid = welcome.get("pid")
            if not isinstance(pid, int) or _local_node(env) != pid:
                raise ClientError(
                    f"node {env.node_name} did not stop within {timeout:g}s "
                    f"(RELEASE_STOP_TIMEOUT); its pid is {pid}"
                ) from None
            _escalate(env, pid, force, timeout)
            return 0
    _wait_gone(welcome.get("pid"), env)
    return 0


def _stop_options(argv: list[str]) -> bool:
    for arg in argv:
        if arg != "--force":
            raise ClientError(f"stop takes no argument but --force, got {arg!r}")
    return bool(argv)


def _local_node(env: "Env") -> int | None:
    """The pid of the node of this name running on this machine, if any."""
    from pyrelease.node import nodelock
    from pyrelease.node.pidfiles import is_node_process

    pid = nodelock.holder(env)
    return pid if pid is not None and is_node_process(pid) else None


def _supervisor(env: "Env", pid: int) -> int | None:
    """The daemon supervisor whose node ``pid`` is, None when it runs on its own."""
    from pyrelease.node.pidfiles import read_pid

    # The supervisor's pid file, as daemon.py names it: $RELEASE_TMP/NODE.supervisor.pid
    supervisor = read_pid(os.path.join(env.tmp, f"{env.node_name}.supervisor.pid"))
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            parent = int(f.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return supervisor if supervisor is not None and supervisor == parent else None


def _unanswered(env: "Env", pid: int, force: bool, problem: str, timeout: float) -> None:
    """The node runs here but its channel does not answer (not up yet while it
    boots, or the node is stuck): ask it to stop with SIGTERM, as a stop request
    would, then escalate (see :func:`_escalate`) if it is still there."""
    supervisor = _supervisor(env, pid)
    import signal

    print(
        f"{problem}; node {env.node_name} (pid {pid}) runs but does not answer on its "
        f"control channel: sending SIGTERM to {'its daemon supervisor' if supervisor else 'it'}",
        file=sys.stderr,
        flush=True,
    )
    _kill(supervisor or pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        _escalate(env, pid, force, timeout)


def _escalate(env: "Env", pid: int, force: bool, timeout: float) -> None:
    """The node did not stop in time: kill it when allowed, else say how."""
    supervisor = _supervisor(env, pid)
    if not (force or supervisor):
        raise ClientError(
            f"node {env.node_name} did not stop within {timeout:g}s "
            f"(RELEASE_STOP_TIMEOUT); its pid is {pid}. `bin/{env.name} stop --force` "
            "kills it after that time"
        )
    import signal

    if supervisor:  # a stop, not a crash: the supervisor must not restart it (heart)
        _kill(supervisor, signal.SIGTERM)
    _kill(pid, signal.SIGKILL)
    print(
        f"node {env.node_name} did not stop within {timeout:g}s (RELEASE_STOP_TIMEOUT); "
        f"killed it with SIGKILL (pid {pid}): its stop callbacks did not run",
        file=sys.stderr,
        flush=True,
    )
    for process in (pid, supervisor):
        deadline = time.monotonic() + 10
        while process and time.monotonic() < deadline and _alive(process):
            time.sleep(0.02)


def _kill(pid: int, sig: int) -> None:
    """``os.kill`` that ignores a process already gone (no ``contextlib``: boot time)."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_gone(pid: object, env: "Env") -> None:
    if env.distribution != "sname" or not isinstance(pid, int):
        return
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.005)


def _alive(pid: int) -> bool:
    """True while ``pid`` runs; an exited process its parent has not reaped yet counts as gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        return state not in (b"Z", b"X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: fall back to signal 0
        try:
            os.kill(pid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True


def cmd_restart(env: "Env", argv: list[str]) -> int:
    """Stop and start the node's applications in the same OS process."""
    sock, _ = connect(env, "restart")
    with sock:
        sock.settimeout(None)  # restarting takes what the applications take
        _ask(sock, env, "restart", "failed to restart")
    return 0


COMMANDS = {
    "pid": cmd_pid,
    "rpc": cmd_rpc,
    "remote": cmd_remote,
    "stop": cmd_stop,
    "restart": cmd_restart,
}


def main(argv: list[str]) -> int:
    """Run one management command; errors are one ``ERROR:`` line and exit 1."""
    command, rest = argv[0], argv[1:]
    try:
        env = Env(os.environ)
        settings = vmargs.load(env.remote_vm_args)
        if settings.needs_reexec():
            vmargs.reexec(settings, os.path.abspath(sys.argv[0]), argv)
        settings.apply()
        return COMMANDS[command](env, rest)
    except (ClientError, EnvError, vmargs.VmArgsError) as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        return 1
    except (EOFError, ConnectionError) as exc:
        print(f"ERROR: the connection to the node was lost: {exc!r}", file=sys.stderr, flush=True)
        return 1
    except TimeoutError:
        print(
            f"ERROR: the node stopped answering (nothing for {channel.CLIENT_TIMEOUT:g} s)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    except (OSError, channel.ProtocolError) as exc:
        print(
            f"ERROR: the connection to the node failed: {exc}; the command's outcome is unknown",
            file=sys.stderr,
            flush=True,
        )
        return 1


def run(argv: list[str]) -> None:
    """:func:`main`, then leave at once with its status, as ``bin/NAME`` does.

    A management command holds nothing to clean up (its socket is closed, it
    starts no thread and registers no ``atexit`` function), so it skips the
    interpreter's finalization, which costs a command more than its own work.
    Output is flushed first; a failed flush (a closed pipe) gives status 120,
    as the interpreter's own exit would.
    """
    status = main(argv)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, or a stream closed by the code
            status = status or 120
    os._exit(status & 0xFF)  # what sys.exit does with any int
