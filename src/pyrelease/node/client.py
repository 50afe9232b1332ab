"""Management commands that talk to a running node: pid, rpc, remote, stop, restart.

They import only the channel code (no application, no configuration), so each
answers in a few tens of milliseconds. Messages say which failure it is: no
node running (and where we looked), the cookie refused, or no channel at all.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time

from pyrelease.node import channel, vmargs
from pyrelease.node.cookie import cookie_path, read_cookie
from pyrelease.node.releaseenv import Env, EnvError

STOP_TIMEOUT = float(os.environ.get("RELEASE_STOP_TIMEOUT", "60"))


class ClientError(Exception):
    """A management command failed; printed as one ``ERROR:`` line."""


def connect(env: Env, command: str) -> tuple[socket.socket, dict]:
    """Open an authenticated connection to the node named by ``env``."""
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
    sock, where = _open(env)
    try:
        sock.settimeout(channel.HANDSHAKE_TIMEOUT)
        welcome = channel.client_handshake(sock, secret)
        sock.settimeout(None)
    except channel.Refused as exc:
        sock.close()
        raise ClientError(f"node {env.node_name} refused the connection: {exc}") from None
    except (OSError, EOFError, channel.ProtocolError) as exc:
        sock.close()
        raise ClientError(
            f"the connection to node {env.node_name} at {where} failed: {exc}"
        ) from None
    return sock, welcome


def _open(env: Env) -> tuple[socket.socket, str]:
    if env.distribution == "sname":
        path = channel.unix_path(env)
        sock = socket.socket(socket.AF_UNIX)
        try:
            channel.connect_unix(sock, path)
        except (FileNotFoundError, ConnectionRefusedError):
            sock.close()
            raise ClientError(f"no node {env.node_name} is running (looked for {path})") from None
        return sock, path
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
        sock = socket.create_connection((env.node_host, int(port)), timeout=5)
    except OSError:
        raise ClientError(
            f"no node {env.node_name} is running (nothing answers at {where})"
        ) from None
    return sock, where


def cmd_pid(env: Env, argv: list[str]) -> int:
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


def _ask(sock: socket.socket, env: Env, op: str, failed: str) -> None:
    """Send a lifecycle request; raise with ``failed`` when the node reports an error."""
    channel.send(sock, {"op": op})
    reply = channel.recv(sock)
    if "error" in reply:
        raise ClientError(f"node {env.node_name} {failed}: {reply['error']}")


def cmd_rpc(env: Env, argv: list[str]) -> int:
    """Run code inside the node; its output comes back here."""
    if not argv:
        raise ClientError("RPC expects an expression as argument")
    sock, _ = connect(env, "rpc")
    with sock:
        channel.send(sock, {"op": "rpc", "code": argv[0]})
        while True:
            msg = channel.recv(sock)
            if "out" in msg:
                _show(msg)
            elif msg.get("done"):
                return int(msg.get("status", 0))


def cmd_remote(env: Env, argv: list[str]) -> int:
    """A Python REPL inside the running node; Ctrl-D leaves it, the node keeps running."""
    sock, _ = connect(env, "remote")
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing on the caller's side
    print(
        f"Connected to node {env.node_name} ({env.name} {env.vsn}). "
        "Ctrl-D leaves; the node keeps running."
    )
    with sock:
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


def cmd_stop(env: Env, argv: list[str]) -> int:
    """Ask the node to stop and return once its process is gone."""
    sock, welcome = connect(env, "stop")
    with sock:
        try:
            _ask(sock, env, "stop", "could not stop")
        except EOFError:
            pass  # the node went away right after taking the request: stopped
        sock.settimeout(STOP_TIMEOUT)
        try:  # the node holds this connection until its process exits
            while sock.recv(4096):
                pass
        except TimeoutError:
            raise ClientError(
                f"node {env.node_name} did not stop within {STOP_TIMEOUT:g}s "
                f"(RELEASE_STOP_TIMEOUT); its pid is {welcome.get('pid')}"
            ) from None
    _wait_gone(welcome.get("pid"), env)
    return 0


def _wait_gone(pid: object, env: Env) -> None:
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


def cmd_restart(env: Env, argv: list[str]) -> int:
    """Stop and start the node's applications in the same OS process."""
    sock, _ = connect(env, "restart")
    with sock:
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
