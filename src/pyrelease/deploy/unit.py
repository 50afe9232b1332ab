"""``release-deploy unit``: the systemd unit that runs ``ROOT/current/bin/NAME start``."""

from __future__ import annotations

from importlib.resources import files
from string import Template

from pyrelease.deploy.errors import DeployError


def render_unit(root: str, name: str, user: str, group: str | None = None) -> str:
    """The unit text for the release ``name`` deployed in ``root``, run as ``user``."""
    for label, value in (("--name", name), ("--user", user), ("--group", group or user)):
        if not value or any(c.isspace() for c in value) or "/" in value:
            raise DeployError(f"{label} {value!r} is not a valid name: use letters and digits")
    if not root.startswith("/"):
        raise DeployError(f"--root {root!r} must be an absolute path in a systemd unit")
    text = (files("pyrelease.deploy") / "templates" / "release.service").read_text("utf-8")
    return Template(text).substitute(root=root.rstrip("/"), name=name, user=user,
                                     group=group or user)  # fmt: skip
