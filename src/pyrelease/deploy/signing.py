"""Detached signatures with ``ssh-keygen -Y sign`` / ``-Y verify``.

Why SSH signatures: every server already has OpenSSH's ``ssh-keygen`` (8.0+),
teams already manage SSH keys, and an ``allowed_signers`` file (the format git
uses for signed commits) says which keys may sign — no new tool or key
infrastructure to install. Signatures use the namespace ``release-deploy``, so
a signature made for anything else (a git commit, a file) does not verify here.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pyrelease.deploy.errors import DeployError, VerifyError

NAMESPACE = "release-deploy"


def _ssh_keygen() -> str:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise DeployError(
            "ssh-keygen is not installed: install OpenSSH's client tools (openssh-client) "
            "to sign or verify signatures"
        )
    return tool


def sign(path: Path, key: Path, dest: Path) -> Path:
    """Write to ``dest`` the signature of ``path`` made with the SSH private key ``key``."""
    if not key.is_file():
        raise DeployError(f"the signing key {key} does not exist: pass an SSH private key")
    with open(path, "rb") as data:
        result = subprocess.run(
            [_ssh_keygen(), "-Y", "sign", "-q", "-f", str(key), "-n", NAMESPACE],
            stdin=data,
            capture_output=True,
            timeout=300,
        )
    if result.returncode != 0 or b"BEGIN SSH SIGNATURE" not in result.stdout:
        detail = result.stderr.decode(errors="replace").strip().splitlines()[-1:] or ["no detail"]
        raise DeployError(
            f"ssh-keygen could not sign {path.name} with {key} ({detail[0]}): pass an "
            "unencrypted SSH private key, or load it into ssh-agent"
        )
    dest.write_bytes(result.stdout)
    return dest


def verify(path: Path, sig: Path, allowed_signers: Path) -> str:
    """Check ``sig`` over ``path`` against ``allowed_signers``; the signer's name."""
    if not allowed_signers.is_file():
        raise DeployError(
            f"the allowed signers file {allowed_signers} does not exist: pass the file that "
            "lists the keys allowed to sign releases"
        )
    tool = _ssh_keygen()
    found = subprocess.run(
        [tool, "-Y", "find-principals", "-s", str(sig), "-f", str(allowed_signers)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
    )
    principal = found.stdout.strip().splitlines()[0] if found.returncode == 0 else ""
    if not principal:
        raise VerifyError(
            f"the signature of {path.name} is not from a key in {allowed_signers}: "
            "check that the release was signed by an allowed key"
        )
    with open(path, "rb") as data:
        result = subprocess.run(
            [tool, "-Y", "verify", "-f", str(allowed_signers), "-I", principal,
             "-n", NAMESPACE, "-s", str(sig)],
            stdin=data,
            capture_output=True,
            text=True,
            timeout=300,
        )  # fmt: skip
    if result.returncode != 0:
        raise VerifyError(
            f"the signature of {path.name} does not match its content: the file was changed "
            "after signing, or signed by another key"
        )
    return principal
