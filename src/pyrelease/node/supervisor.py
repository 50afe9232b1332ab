"""The daemon's supervisor: runs the node, logs its output, restarts it (heart).

One supervisor per daemon, in a session of its own with no terminal. It

* starts the node as its child with ``NOTIFY_SOCKET`` pointing at a datagram
  socket it owns, and learns from ``READY=1`` that every application started;
* copies the node's stdout and stderr into the rotating log (``logrotate``);
* for ``daemon_iex``, forwards what is written to ``tmp/pipe/NODE.in`` to the
  node's stdin;
* when ``RELEASE_HEART`` is on, starts a node that exited abnormally again,
  with the back-off and restart limit of ``heart.py``;
* on SIGTERM or SIGINT, forwards SIGTERM to the node, waits for it and exits;
  a node that stops because it was asked to (it says ``X_PYRELEASE_STOP=requested``
  with ``STOPPING=1``) is not restarted either, whatever its exit status;
* tells the waiting ``daemon`` command how the first boot went, through a pipe
  (one JSON line), after any ``{"status": ...}`` lines: why the node is not
  ready yet, as it said with ``STATUS=``.

A single selector loop drives all of it; signals reach the loop through
``signal.set_wakeup_fd``, timers through the selector's timeout. The channels
to the node (output, readiness socket, input pipe) are in ``nodeio.py``.
"""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import traceback

from pyrelease.node.entrypoint import NODE_MAIN
from pyrelease.node.heart import Heart
from pyrelease.node.logrotate import RotatingLog
from pyrelease.node.nodeio import InputPipe, NodeOutput, ReadinessSocket
from pyrelease.node.pidfiles import remove, write_pid_file

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from pyrelease.node.daemonconfig import Paths, Settings
    from pyrelease.node.releaseenv import Env


def describe_exit(returncode: int) -> str:
    """``status 1`` or ``signal SIGKILL``, for a ``Popen.returncode``."""
    if returncode >= 0:
        return f"status {returncode}"
    try:
        return f"signal {signal.Signals(-returncode).name}"
    except ValueError:
        return f"signal {-returncode}"


def node_command(iex: bool) -> list[str]:
    """The node's command line: unbuffered, so its log is always up to date."""
    return [sys.executable, "-I", "-S", "-u", NODE_MAIN, "start_iex" if iex else "start"]


class Supervisor:
    """Runs one node at a time until it is gone for good; see the module docstring."""

    def __init__(
        self, env: Env, paths: Paths, settings: Settings, *, iex: bool, verdict_fd: int
    ) -> None:
        self.env, self.paths, self.settings, self.iex = env, paths, settings, iex
        self.verdict_fd: int | None = verdict_fd
        self.log = RotatingLog(paths.log, settings.log_size, settings.log_files)
        self.heart = Heart(
            settings.heart_backoff, settings.heart_max_restarts, settings.heart_window
        )
        self.sel = selectors.DefaultSelector()
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = NodeOutput(self.log)
        self.notify = ReadinessSocket(paths.notify)
        self.input_pipe = InputPipe(paths.fifo, self.sel, self.log)
        self.ever_ready = self.stopping = self.timed_out = self.done = False
        # What the node said on its readiness socket: STATUS= (why it is not ready
        # yet) and whether the stop it began was asked for (no restart then).
        self.node_status = ""
        self.node_stop_requested = False
        self.boot_deadline: float | None = None
        self.restart_at: float | None = None
        self.kill_at: float | None = None
        self.status = 0

    # -- the loop ---------------------------------------------------------------

    def run(self) -> int:
        """Start the node and supervise it; return the supervisor's exit status."""
        try:
            self.log.open()
            self._setup()
            self._spawn()
            while not self.done:
                for key, _ in self.sel.select(self._timeout()):
                    key.data()
                self._timers()
        except BaseException as exc:  # the supervisor has no terminal: say it in the log
            self._crashed(exc)
        finally:
            self._cleanup()
        return self.status

    def _setup(self) -> None:
        wake_r, wake_w = os.pipe()
        for fd in (wake_r, wake_w):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        # Handlers, not SIG_IGN: the node must not inherit ignored signals. SIGHUP
        # (there is no terminal to hang up) is received and ignored by _on_signals.
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, lambda *_: None)  # the wakeup fd carries the news
        self.wake_r = wake_r
        self.sel.register(wake_r, selectors.EVENT_READ, self._on_signals)
        self.sel.register(self.notify.bind(), selectors.EVENT_READ, self._on_notify)
        if self.iex:
            self.sel.register(self.input_pipe.open(), selectors.EVENT_READ, self._on_input)

    def _timeout(self) -> float | None:
        deadlines = [
            t for t in (self.boot_deadline, self.restart_at, self.kill_at) if t is not None
        ]
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    def _timers(self) -> None:
        now = time.monotonic()
        if self.kill_at is not None and now >= self.kill_at and self.proc is not None:
            self.kill_at = None
            self.log.line(
                f"[daemon] node did not stop within {self.settings.stop_timeout:g}s; killing it"
            )
            self.proc.kill()
        if self.boot_deadline is not None and now >= self.boot_deadline:
            self.boot_deadline, self.timed_out = None, True
            self.log.line(f"[daemon] node not ready after {self.settings.timeout:g}s; stopping it")
            self._terminate()
        if self.restart_at is not None and now >= self.restart_at:
            self.restart_at = None
            self._spawn()

    # -- the node ---------------------------------------------------------------

    def _spawn(self) -> None:
        environ = {**os.environ, "NOTIFY_SOCKET": self.notify.path}
        try:
            self.proc = subprocess.Popen(
                node_command(self.iex),
                stdin=subprocess.PIPE if self.iex else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                env=environ,
                cwd=self.env.root,
            )
        except OSError as exc:
            self._gone_for_good(f"could not start node {self.env.node_name}: {exc}")
            return
        assert self.proc.stdout is not None
        os.set_blocking(self.proc.stdout.fileno(), False)
        self.sel.register(self.proc.stdout, selectors.EVENT_READ, self._on_output)
        if self.proc.stdin is not None:
            os.set_blocking(self.proc.stdin.fileno(), False)
        write_pid_file(self.paths.pid, self.proc.pid)
        self.output.tail.clear()
        self.node_status, self.node_stop_requested = "", False
        if not self.ever_ready:
            self.boot_deadline = time.monotonic() + self.settings.timeout
        self.log.line(f"[daemon] node started (pid {self.proc.pid})")

    def _terminate(self) -> None:
        """Ask the node to stop; kill it if it is still there after the stop timeout."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.kill_at = time.monotonic() + self.settings.stop_timeout

    def _reap(self) -> None:
        if self.proc is None or self.proc.poll() is None:
            return
        proc, self.proc, self.kill_at, self.boot_deadline = self.proc, None, None, None
        assert proc.stdout is not None
        self.output.drain(proc.stdout)
        for stream in (proc.stdout, proc.stdin):
            if stream is not None:
                self._unregister(stream)
                stream.close()
        self.input_pipe.pending.clear()
        remove(self.paths.pid)
        self._after_exit(proc.pid, proc.returncode)

    def _after_exit(self, pid: int, returncode: int) -> None:
        """Decide what a node's end means: failed boot, done, or restart (heart)."""
        how = f"exited with {describe_exit(returncode)}"
        self.log.line(f"[daemon] node (pid {pid}) {how}")
        name = self.env.node_name
        if not self.ever_ready:
            if self.timed_out:
                why = f"node {name} did not become ready within {self.settings.timeout:g}s"
                if self.node_status:
                    why += f": {self.node_status}"
            elif self.stopping:
                why = f"the daemon was stopped before node {name} was ready"
            else:
                why = f"node {name} {how} before it was ready"
            self._gone_for_good(why)
        elif self.stopping or returncode == 0:
            self.done = True
        elif self.node_stop_requested:  # asked to stop, it did, though not cleanly
            self.log.line("[daemon] not restarting it: it was asked to stop")
            self.done, self.status = True, 1
        elif not self.settings.heart:
            self.log.line("[daemon] not restarting it: heart is off (RELEASE_HEART=1 turns it on)")
            self.done, self.status = True, 1
        else:
            self._heartbeat(how)

    def _heartbeat(self, how: str) -> None:
        delay = self.heart.next_delay(time.monotonic())
        limit, window = self.heart.max_restarts, self.heart.window
        if delay is None:
            self.log.line(f"[heart] node {how}; {limit} restarts within {window:g}s, giving up")
            self.done, self.status = True, 1
            return
        self.log.line(
            f"[heart] node {how}; restarting in {delay:g}s (restart {self.heart.count} of {limit})"
        )
        self.restart_at = time.monotonic() + delay

    def _gone_for_good(self, error: str) -> None:
        """The first boot failed: tell the ``daemon`` command, with this boot's last lines."""
        self.log.line(f"[daemon] {error}")
        tail = [*self.output.tail]
        self._verdict({"ready": False, "error": error, "log": self.log.path, "tail": tail})
        self.done, self.status = True, 1

    def _on_ready(self) -> None:
        assert self.proc is not None
        self.boot_deadline = None
        self.log.line(f"[daemon] node ready (pid {self.proc.pid})")
        if not self.ever_ready:
            self.ever_ready = True
            self._verdict({"ready": True, "pid": self.proc.pid, "log": self.paths.log})
            self._close_verdict()

    # -- events -----------------------------------------------------------------

    def _on_signals(self) -> None:
        try:
            received = os.read(self.wake_r, 512)
        except BlockingIOError:
            return
        for signum in received:
            if signum == signal.SIGCHLD:
                self._reap()
            elif signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
                self.stopping, self.restart_at = True, None
                self.log.line(f"[daemon] received {signal.Signals(signum).name}; stopping")
                if self.proc is None:
                    self.done = True
                self._terminate()

    def _on_output(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        if not self.output.read(self.proc.stdout):
            self._unregister(self.proc.stdout)  # closed; its exit comes with SIGCHLD

    def _on_notify(self) -> None:
        fields = self.notify.receive()
        if fields is None:
            return
        if self.proc is None or fields.get("MAINPID", str(self.proc.pid)) != str(self.proc.pid):
            return  # not from our node: ignore
        if "STATUS" in fields:
            self.node_status = fields["STATUS"][:500]
            if not self.ever_ready:  # the waiting `daemon` command shows it at once
                self._verdict({"status": self.node_status})
        if fields.get("STOPPING") == "1" and fields.get("X_PYRELEASE_STOP") == "requested":
            self.node_stop_requested = True
        if fields.get("READY") == "1":
            self._on_ready()

    def _on_input(self) -> None:
        self.input_pipe.forward(self.proc.stdin if self.proc is not None else None)

    def _unregister(self, fileobj: object) -> None:
        try:
            self.sel.unregister(fileobj)
        except (KeyError, ValueError):
            pass

    # -- the verdict, and the end -------------------------------------------------

    def _verdict(self, verdict: dict[str, object]) -> None:
        if self.verdict_fd is None:
            return
        try:
            os.write(self.verdict_fd, json.dumps(verdict).encode() + b"\n")
        except OSError:
            pass  # the daemon command was interrupted: nobody is waiting

    def _close_verdict(self) -> None:
        if self.verdict_fd is not None:
            os.close(self.verdict_fd)
            self.verdict_fd = None

    def _crashed(self, exc: BaseException) -> None:
        text = "".join(traceback.format_exception(exc)).rstrip()
        try:
            self.log.line(f"[daemon] the supervisor failed:\n{text}")
        except (OSError, ValueError):
            pass
        self._verdict({"ready": False, "error": f"the daemon supervisor failed: {exc!r}"})
        self.status = 1

    def _cleanup(self) -> None:
        """Leave nothing behind: the node, pid files, pipes, sockets; then close the verdict
        pipe, which tells a waiting ``daemon`` command that the supervisor is done."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.input_pipe.close()
        self.notify.close()
        for path in (self.paths.pid, self.paths.fifo, self.notify.path, self.paths.supervisor_pid):
            remove(path)
        self.notify.remove_dir()
        try:
            self.log.line("[daemon] supervisor exiting")
            self.log.close()
        except (OSError, ValueError):
            pass
        self._close_verdict()
