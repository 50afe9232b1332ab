"""The release cookie: the shared secret of the control channel.

``RELEASE_COOKIE`` wins; otherwise ``releases/COOKIE``. A build never carries
a cookie (unless the release sets ``cookie``): the node makes one on its
first start, 56 random letters, digits and underscores, mode 0400.
"""

from __future__ import annotations

import os
import secrets
import string

ALPHABET = string.ascii_letters + string.digits + "_"
LENGTH = 56


def cookie_path(root: str) -> str:
    """Where the cookie file lives."""
    return os.path.join(root, "releases", "COOKIE")


def read_cookie(root: str) -> str | None:
    """The cookie from ``RELEASE_COOKIE`` or ``releases/COOKIE``, or None."""
    value = os.environ.get("RELEASE_COOKIE")
    if value:
        return value
    try:
        with open(cookie_path(root), encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None


def ensure_cookie(root: str) -> str:
    """The cookie, creating ``releases/COOKIE`` (0400) when there is none."""
    found = read_cookie(root)
    if found:
        return found
    value = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    try:
        fd = os.open(cookie_path(root), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
    except FileExistsError:  # another node made it first
        return read_cookie(root) or value
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value)
    return value
