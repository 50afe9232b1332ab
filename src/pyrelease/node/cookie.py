"""The release cookie: the shared secret of the control channel.

``RELEASE_COOKIE`` wins; otherwise ``releases/COOKIE``. A build never carries
a cookie (unless the release sets ``cookie``): the node makes one on its
first start, 56 random letters, digits and underscores, mode 0400.
"""

from __future__ import annotations

import os

from pyrelease.node.releaseenv import EnvError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
LENGTH = 56


def cookie_path(root: str) -> str:
    """Where the cookie file lives."""
    return os.path.join(root, "releases", "COOKIE")


class CookieError(EnvError):
    """The cookie file exists but cannot be read (a user error: one sentence)."""


def read_cookie(root: str) -> str | None:
    """The cookie from ``RELEASE_COOKIE`` or ``releases/COOKIE``, or None.

    Raises ``CookieError`` when the file exists but cannot be read.
    """
    value = os.environ.get("RELEASE_COOKIE")
    if value:
        return value
    path = cookie_path(root)
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else "not text"
        raise CookieError(
            f"cannot read the cookie file {path} ({why}); run this as the user the release "
            "runs as, or give the cookie in RELEASE_COOKIE"
        ) from None


def _random_cookie() -> str:
    # os.urandom with rejection sampling (no modulo bias); `secrets` would import `random`.
    chars: list[str] = []
    limit = 256 - 256 % len(ALPHABET)
    while len(chars) < LENGTH:
        chars += [ALPHABET[b % len(ALPHABET)] for b in os.urandom(64) if b < limit]
    return "".join(chars[:LENGTH])


def ensure_cookie(root: str) -> str:
    """The cookie, creating ``releases/COOKIE`` (0400) when there is none."""
    found = read_cookie(root)
    if found:
        return found
    from pyrelease.node.safefiles import create_new

    value = _random_cookie()
    # Complete from the moment it exists (a reader never sees it empty), never
    # written through a link: written aside, then linked into place.
    try:
        created = create_new(cookie_path(root), value.encode(), 0o400)
    except OSError as exc:  # a read-only release, or one owned by another user
        why = (exc.strerror or str(exc)).lower()
        raise CookieError(
            f"cannot create the cookie file {cookie_path(root)} ({why}); "
            "give the cookie in RELEASE_COOKIE, or create that file (mode 0400)"
        ) from None
    if not created:  # another node was first
        return read_cookie(root) or value
    return value
