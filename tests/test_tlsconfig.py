"""Where the control channel's TLS files come from: RELEASE_TLS_* wins over
vm.args, relative paths are the release root's, and nothing set means no TLS."""

from __future__ import annotations

import pytest

from pyrelease.node import tlsconfig, vmargs
from pyrelease.node.releaseenv import Env, EnvError


def env(**extra: str) -> Env:
    return Env({"RELEASE_ROOT": "/srv/demo", "RELEASE_NAME": "demo", "RELEASE_VSN": "1", **extra})


def test_nothing_set_means_no_tls() -> None:
    assert tlsconfig.settings(env(), vmargs.parse("")) is None
    assert tlsconfig.settings(env(RELEASE_TLS_KEY="k.pem"), vmargs.parse("")) is None


def test_vm_args_lines_and_variables_that_win() -> None:
    vm = vmargs.parse("--tls-cert tls/node.pem\n--tls-key /etc/k.pem\n--tls-ca tls/ca.pem\n")
    found = tlsconfig.settings(env(RELEASE_TLS_CA="/etc/other-ca.pem"), vm)
    assert found is not None
    assert (found.cert, found.key, found.ca) == (
        "/srv/demo/tls/node.pem", "/etc/k.pem", "/etc/other-ca.pem",
    )  # fmt: skip


def test_a_tls_line_without_a_path_is_refused() -> None:
    with pytest.raises(vmargs.VmArgsError, match="line 1: unknown or incomplete setting"):
        vmargs.parse("--tls-cert\n")


def test_a_node_with_only_a_ca_is_told_what_is_missing() -> None:
    found = tlsconfig.settings(env(RELEASE_TLS_CA="/etc/ca.pem"), vmargs.parse(""))
    assert found is not None
    with pytest.raises(EnvError, match="set RELEASE_TLS_CERT and RELEASE_TLS_KEY"):
        tlsconfig.server_context(found)
