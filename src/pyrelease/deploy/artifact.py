"""A release tarball as ``release-deploy`` sees it: its checksum and its build info."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pyrelease.deploy.errors import DeployError, VerifyError
from pyrelease.deploy.safetar import Limits, scan

BUILD_INFO = "releases/*/build_info.json"


def sha256_file(path: Path) -> str:
    """The hex sha256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_line(digest: str, filename: str) -> str:
    """A ``.sha256`` file's content, in the format ``sha256sum -c`` reads."""
    return f"{digest}  {filename}\n"


def parse_sha256(text: str, where: str) -> str:
    """The digest from a ``.sha256`` file's content."""
    first = text.strip().split()[:1]
    digest = first[0].lower() if first else ""
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise VerifyError(f"{where} does not hold a sha256 digest")
    return digest


def build_info(path: Path, limits: Limits) -> dict[str, Any]:
    """The ``releases/VSN/build_info.json`` of the release tarball at ``path``.

    Every member is checked against the safe-extraction rules on the way.
    """
    raw = scan(path, limits, want=BUILD_INFO)
    if raw is None:
        raise DeployError(
            f"{path.name} is not a pyrelease release tarball (no {BUILD_INFO}): "
            "build it with the `tar` step"
        )
    try:
        info = json.loads(raw)
        for key in ("name", "version", "triple"):
            if not isinstance(info[key], str) or not info[key]:
                raise ValueError(key)
    except (ValueError, KeyError, TypeError):
        raise DeployError(
            f"{path.name} has an invalid build_info.json: rebuild the release"
        ) from None
    return info
