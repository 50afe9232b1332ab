"""The ``RELEASE_*`` variables ``bin/NAME`` sets, with the same defaults.

Kept apart from ``main`` so the management commands (``pid``, ``rpc``,
``stop``...) import only what they need and answer fast.
"""

from pyrelease.node.liteos import os


class EnvError(Exception):
    """A ``RELEASE_*`` variable is missing or invalid."""


DISTRIBUTIONS = ("sname", "name", "none")


class AlreadyRunning(Exception):
    """Another node with the same name is already listening."""


def default_data(environ: "os._Environ[str] | dict[str, str]", name: str) -> str:
    """``RELEASE_DATA`` when unset: systemd's ``STATE_DIRECTORY``, else the user's data folder.

    Outside the release, so that it survives rebuilds and deploys.
    """
    state = environ.get("STATE_DIRECTORY", "").split(":")[0]
    if state:
        return state
    base = environ.get("XDG_DATA_HOME") or os.path.join(
        environ.get("HOME") or os.path.expanduser("~"), ".local", "share"
    )
    return os.path.join(base, "pyrelease", name)


def default_tmp(root: str, data: str) -> str:
    """``RELEASE_TMP`` when unset: ``ROOT/tmp`` as in the model, or ``RELEASE_DATA/tmp``
    when the release is read-only (nothing is ever written under its root then)."""
    tmp = os.path.join(root, "tmp")
    if writable(tmp) or (not os.path.lexists(tmp) and writable(root)):
        return tmp
    return os.path.join(data, "tmp")


def writable(path: str) -> bool:
    """Whether the node may write in ``path``: allowed, and not made read-only on purpose."""
    # The mode bits too: root may write anywhere, but a release made read-only
    # (chmod -R a-w) is meant to stay as it is, whoever runs it.
    try:
        return os.stat(path).st_mode & 0o222 != 0 and os.access(path, os.W_OK)
    except OSError:
        return False


class Env:
    """The release's environment as seen by the node and by management commands."""

    def __init__(self, environ: "os._Environ[str] | dict[str, str]") -> None:
        try:
            self.root = environ["RELEASE_ROOT"]
            self.name = environ["RELEASE_NAME"]
            self.vsn = environ["RELEASE_VSN"]
        except KeyError as exc:
            raise EnvError(
                f"{exc.args[0]} is not set: start the release with its bin/ script"
            ) from None
        self.vsn_dir = os.path.join(self.root, "releases", self.vsn)
        self.mode = environ.get("RELEASE_MODE", "embedded")
        if self.mode not in ("embedded", "interactive"):
            raise EnvError(f"RELEASE_MODE must be embedded or interactive, got {self.mode!r}")
        self.data = environ.get("RELEASE_DATA") or default_data(environ, self.name)
        self.tmp = environ.get("RELEASE_TMP") or default_tmp(self.root, self.data)
        self.node = environ.get("RELEASE_NODE") or self.name
        self.distribution = environ.get("RELEASE_DISTRIBUTION", "sname")
        self.boot_script = environ.get("RELEASE_BOOT_SCRIPT", "start")
        self.boot_script_clean = environ.get("RELEASE_BOOT_SCRIPT_CLEAN", "start_clean")
        self.sys_config = environ.get("RELEASE_SYS_CONFIG") or os.path.join(self.vsn_dir, "sys")
        self.vm_args = environ.get("RELEASE_VM_ARGS") or os.path.join(self.vsn_dir, "vm.args")
        self.remote_vm_args = environ.get("RELEASE_REMOTE_VM_ARGS") or os.path.join(
            self.vsn_dir, "remote.vm.args"
        )
        self.dist_port = environ.get("RELEASE_DIST_PORT", "")
        # TLS for a `name` channel (see tlsconfig); empty when unset.
        self.tls_cert = environ.get("RELEASE_TLS_CERT", "")
        self.tls_key = environ.get("RELEASE_TLS_KEY", "")
        self.tls_ca = environ.get("RELEASE_TLS_CA", "")

    def export(self) -> None:
        """Put the defaults of ``RELEASE_DATA`` and ``RELEASE_TMP`` in the environment,
        for the node's applications, command children and ``exec``/``python``."""
        os.environ.setdefault("RELEASE_DATA", self.data)
        os.environ.setdefault("RELEASE_TMP", self.tmp)
        try:
            os.makedirs(self.data, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise EnvError(
                f"the data directory RELEASE_DATA={self.data} cannot be created: "
                f"{exc.strerror}; set RELEASE_DATA to a folder this user can write"
            ) from None

    @property
    def node_name(self) -> str:
        """The name part of ``RELEASE_NODE`` (``demo`` in ``demo@10.0.0.5``)."""
        return self.node.partition("@")[0]

    @property
    def node_host(self) -> str:
        """The host part of ``RELEASE_NODE``, 127.0.0.1 when absent."""
        return self.node.partition("@")[2] or "127.0.0.1"

    def check_distribution(self) -> None:
        """Refuse an unknown ``RELEASE_DISTRIBUTION`` or a malformed node name."""
        if self.distribution not in DISTRIBUTIONS:
            raise EnvError(
                f"RELEASE_DISTRIBUTION must be sname, name or none, got {self.distribution!r}"
            )
        name = self.node_name
        if not name or not all(c.isalnum() or c in "_-" for c in name):
            raise EnvError(
                f"RELEASE_NODE {self.node!r}: the name part must be letters, digits, "
                "underscores and hyphens"
            )
        if self.dist_port and not self.dist_port.isdigit():
            raise EnvError(f"RELEASE_DIST_PORT must be a port number, got {self.dist_port!r}")
