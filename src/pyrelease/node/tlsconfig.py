"""TLS for a ``name`` (TCP) control channel, from the standard library's ``ssl``.

Three files, each set by a ``RELEASE_TLS_*`` variable (``env.sh`` or the
caller's environment) or by a line of ``vm.args`` (the node) or
``remote.vm.args`` (management commands); the variable wins. Relative paths
are relative to the release root.

* ``RELEASE_TLS_CERT`` / ``--tls-cert``: this side's certificate (PEM, chain
  first); ``RELEASE_TLS_KEY`` / ``--tls-key``: its private key (may be in the
  certificate file). The node must have one; a management command presents its
  own when set.
* ``RELEASE_TLS_CA`` / ``--tls-ca``: the CA certificates that sign the peer's
  certificate. A management command checks the node's certificate against them
  (else against the system's CAs) and its host name against the host of
  ``RELEASE_NODE``; a node with a CA requires management commands to present a
  certificate it signed.

TLS adds confidentiality and a check of the node's identity; the cookie and
the per-frame tags work the same inside it. ``ssl`` is imported only here, so
a release without TLS never loads it. A Unix socket (``sname``) never uses TLS.
"""

from __future__ import annotations

import os

from pyrelease.node.releaseenv import Env, EnvError

TYPE_CHECKING = False  # typing costs milliseconds at boot; annotations are strings
if TYPE_CHECKING:
    from typing import Any

    from pyrelease.node.vmargs import VmArgs


class TlsSettings:
    """The TLS files of one side; empty strings for what is not set."""

    def __init__(self, cert: str, key: str, ca: str) -> None:
        self.cert, self.key, self.ca = cert, key, ca


def settings(env: Env, vm: VmArgs) -> TlsSettings | None:
    """The TLS files from ``RELEASE_TLS_*`` and ``vm``, or None when TLS is not configured."""

    def pick(variable: str, name: str) -> str:
        value = variable or vm.tls.get(name, "")
        return os.path.join(env.root, value) if value else ""

    found = TlsSettings(
        pick(env.tls_cert, "cert"), pick(env.tls_key, "key"), pick(env.tls_ca, "ca")
    )
    return found if found.cert or found.ca else None


def _load(action: Any, what: str, path: str, fix: str) -> None:
    try:
        action()
    except OSError as exc:  # ssl.SSLError is one too
        reason = getattr(exc, "reason", None) or exc.strerror or str(exc)
        raise EnvError(
            f"cannot use {path} as the control channel's TLS {what} ({reason}); {fix}"
        ) from None


def server_context(tls: TlsSettings) -> Any:
    """The node's ``ssl.SSLContext``; :class:`EnvError` naming a file that cannot be used."""
    import ssl

    if not tls.cert:
        raise EnvError(
            "TLS for the control channel is configured (a CA is set) but the node has no "
            "certificate: set RELEASE_TLS_CERT and RELEASE_TLS_KEY (or --tls-cert and "
            "--tls-key in vm.args)"
        )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    fix = "set RELEASE_TLS_CERT and RELEASE_TLS_KEY (or --tls-cert, --tls-key) to PEM files"
    _load(lambda: ctx.load_cert_chain(tls.cert, tls.key or None), "certificate and key",
          f"{tls.cert} (key {tls.key or 'in the same file'})", fix)  # fmt: skip
    if tls.ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        _load(lambda: ctx.load_verify_locations(tls.ca), "CA", tls.ca,
              "set RELEASE_TLS_CA (or --tls-ca) to a PEM file of CA certificates")  # fmt: skip
    return ctx


def client_context(tls: TlsSettings) -> Any:
    """A management command's ``ssl.SSLContext`` (checks the node's certificate and name)."""
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the peer and its host name
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if tls.ca:
        _load(lambda: ctx.load_verify_locations(tls.ca), "CA", tls.ca,
              "set RELEASE_TLS_CA (or --tls-ca in remote.vm.args) to a PEM file")  # fmt: skip
    else:
        ctx.load_default_certs()
    if tls.cert:
        _load(lambda: ctx.load_cert_chain(tls.cert, tls.key or None), "certificate and key",
              tls.cert, "set RELEASE_TLS_CERT and RELEASE_TLS_KEY to PEM files")  # fmt: skip
    return ctx
