"""The ``RELEASE_*`` variables ``bin/NAME`` sets, with the same defaults.

Kept apart from ``main`` so the management commands (``pid``, ``rpc``,
``stop``...) import only what they need and answer fast.
"""

from __future__ import annotations

import os


class EnvError(Exception):
    """A ``RELEASE_*`` variable is missing or invalid."""


DISTRIBUTIONS = ("sname", "name", "none")


class AlreadyRunning(Exception):
    """Another node with the same name is already listening."""


class Env:
    """The release's environment as seen by the node and by management commands."""

    def __init__(self, environ: os._Environ[str] | dict[str, str]) -> None:
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
        self.tmp = environ.get("RELEASE_TMP") or os.path.join(self.root, "tmp")
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
