"""Where CI puts the artifact: the ``upload-to`` setting and ``release-deploy push``.

| ``upload-to`` | what happens |
|---|---|
| ``artifact`` | nothing here: the action's next step uploads the files as a workflow artifact |
| ``none`` (or empty) | nothing |
| ``github-release`` | ``release-deploy push`` to ``github://$GITHUB_REPOSITORY`` |
| ``s3://``, ``https://``, ``http://``, ``file://``, ``github://`` URL | push to that store |

Pushing runs the real ``release-deploy`` command, the same code a user runs by
hand, so the store layout and index are the ones ``release-deploy pull`` reads.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from pyrelease.ci.artifact import Artifact
from pyrelease.errors import PyreleaseError

STORE_SCHEMES = ("s3://", "https://", "http://", "file://", "github://")
KEYWORDS = ("artifact", "github-release", "none")


class UploadError(PyreleaseError):
    """The artifact could not be uploaded, or ``upload-to`` is not understood."""


@dataclass(frozen=True)
class Destination:
    """A parsed ``upload-to``: ``kind`` is artifact, none or store (then ``store`` is its URL)."""

    kind: str
    store: str | None = None


def destination(upload_to: str, environ: Mapping[str, str]) -> Destination:
    """Parse ``upload-to``; :class:`UploadError` naming the accepted forms otherwise."""
    value = upload_to.strip()
    if value in ("", "none"):
        return Destination("none")
    if value == "artifact":
        return Destination("artifact")
    if value == "github-release":
        repo = environ.get("GITHUB_REPOSITORY", "")
        if not repo:
            raise UploadError(
                "upload-to github-release needs GITHUB_REPOSITORY (owner/repo), which is not set",
                tip="run it in a GitHub Actions job, or give upload-to github://OWNER/REPO",
            )
        return Destination("store", f"github://{repo}")
    if value.lower().startswith(STORE_SCHEMES) and len(value.split("://", 1)[1]) > 0:
        return Destination("store", value)
    raise UploadError(
        f"upload-to {value!r} is not understood: use one of {', '.join(KEYWORDS)} "
        f"or a store URL starting with {', '.join(STORE_SCHEMES)}"
    )


def object_url(store: str, artifact: Artifact, environ: Mapping[str, str]) -> str:
    """Where the pushed tarball can be downloaded: its URL in the store.

    For a GitHub store that is the asset's download address on the server
    (``GITHUB_SERVER_URL``, for GitHub Enterprise), in the release tagged NAME-VSN.
    """
    if store.startswith("github://"):
        server = (environ.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/")
        repo = store.removeprefix("github://").strip("/")
        tag = quote(f"{artifact.name}-{artifact.version}", safe="")
        asset = quote(PurePosixPath(artifact.store_object).name, safe="")
        return f"{server}/{repo}/releases/download/{tag}/{asset}"
    return f"{store.rstrip('/')}/{artifact.store_object}"


def push(artifact: Artifact, store: str, environ: Mapping[str, str]) -> None:
    """``release-deploy push ARTIFACT --to STORE``; its progress goes to our output.

    Credentials come from the environment as for a push by hand (``AWS_*``,
    ``GITHUB_TOKEN``, ``RELEASE_DEPLOY_TOKEN``, ``RELEASE_DEPLOY_SIGNING_KEY``).
    """
    sys.stdout.flush()
    command = [sys.executable, "-m", "pyrelease.deploy", "push", str(artifact.path), "--to", store]
    try:
        result = subprocess.run(command, env=dict(environ), stdin=subprocess.DEVNULL)
    except OSError as exc:
        raise UploadError(f"could not run release-deploy: {exc}") from None
    if result.returncode != 0:
        raise UploadError(
            f"release-deploy push of {Path(artifact.path).name} to {store} failed "
            f"(exit {result.returncode}); its message is above",
            tip="check the store URL and its credentials; the artifact is still at "
            f"{artifact.path}",
        )
