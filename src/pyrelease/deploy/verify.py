"""``release-deploy verify FILE``: check a tarball's checksum and signature."""

from __future__ import annotations

from pathlib import Path

from pyrelease.deploy.artifact import parse_sha256, sha256_file
from pyrelease.deploy.errors import DeployError, VerifyError
from pyrelease.deploy.signing import verify


def verify_file(path: Path, digest: str | None, allowed_signers: Path | None) -> str:
    """A one-line verdict for ``path``; :class:`VerifyError` on any mismatch."""
    if not path.is_file():
        raise DeployError(f"{path} does not exist: pass the path of a release tarball")
    sums = path.with_name(path.name + ".sha256")
    if digest is None:
        if not sums.is_file():
            raise DeployError(f"{sums} does not exist: put it beside the file or pass --sha256")
        digest = parse_sha256(sums.read_text(encoding="utf-8", errors="replace"), str(sums))
    else:
        digest = parse_sha256(digest, "--sha256")
    if sha256_file(path) != digest:
        raise VerifyError(f"{path.name} does not match its sha256: the file is damaged or altered")
    verdict = f"{path.name}: sha256 ok"
    if allowed_signers is None:
        return verdict + ", signature not checked (no --allowed-signers)"
    sig = path.with_name(path.name + ".sig")
    if not sig.is_file():
        raise VerifyError(f"{sig} does not exist: the file is not signed")
    return verdict + f", signature ok ({verify(path, sig, allowed_signers)})"
