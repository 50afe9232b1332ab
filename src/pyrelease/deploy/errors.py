"""The exceptions of ``release-deploy``; the CLI turns them into one sentence each."""

from __future__ import annotations


class DeployError(Exception):
    """A deploy step could not be done; the message names the problem and the fix."""


class UnsafeArchive(DeployError):
    """A tarball member breaks a safe-extraction rule; nothing was written."""


class HostMismatch(DeployError):
    """The release was built for something this host does not provide."""


class VerifyError(DeployError):
    """A checksum or signature does not match."""
