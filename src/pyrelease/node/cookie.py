"""The release cookie: the shared secret of the control channel.

``RELEASE_COOKIE`` wins; otherwise ``releases/COOKIE``; otherwise
``$RELEASE_TMP/COOKIE``. A build never carries a cookie (unless the release
sets ``cookie``): the node makes one on its first start, 56 random letters,
digits and underscores, mode 0400, in ``releases/COOKIE`` (kept across
rebuilds, as in the model) or, when the release is read-only, in
``$RELEASE_TMP/COOKIE`` (nothing is written under a read-only release).
"""

from pyrelease.node.liteos import os
from pyrelease.node.releaseenv import EnvError

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_"
LENGTH = 56


def _tmp(root: str) -> str:
    from pyrelease.node.releaseenv import default_data, default_tmp

    environ = os.environ
    tmp = environ.get("RELEASE_TMP")
    if tmp:
        return tmp
    data = environ.get("RELEASE_DATA") or default_data(environ, environ.get("RELEASE_NAME", ""))
    return default_tmp(root, data)


def cookie_path(root: str) -> str:
    """Where the cookie file is, or would be made: ``releases/COOKIE`` unless the
    release is read-only and has none, then ``$RELEASE_TMP/COOKIE``."""
    from pyrelease.node.releaseenv import writable

    path = os.path.join(root, "releases", "COOKIE")
    if os.path.lexists(path) or writable(os.path.dirname(path)):
        return path
    return os.path.join(_tmp(root), "COOKIE")


class CookieError(EnvError):
    """The cookie file exists but cannot be read (a user error: one sentence)."""


def read_cookie(root: str) -> str | None:
    """The cookie from ``RELEASE_COOKIE``, ``releases/COOKIE`` or ``$RELEASE_TMP/COOKIE``.

    Raises ``CookieError`` when a cookie file exists but cannot be read.
    """
    value = os.environ.get("RELEASE_COOKIE")
    if value:
        return value
    for path in (os.path.join(root, "releases", "COOKIE"), os.path.join(_tmp(root), "COOKIE")):
        try:
            with open(path, encoding="utf-8") as f:
                return f.read().strip() or None
        except FileNotFoundError:
            continue
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror.lower() if isinstance(exc, OSError) and exc.strerror else "not text"
            raise CookieError(
                f"cannot read the cookie file {path} ({why}); run this as the user the release "
                "runs as, or give the cookie in RELEASE_COOKIE"
            ) from None
    return None


def _random_cookie() -> str:
    # os.urandom with rejection sampling (no modulo bias); `secrets` would import `random`.
    chars: list[str] = []
    limit = 256 - 256 % len(ALPHABET)
    while len(chars) < LENGTH:
        chars += [ALPHABET[b % len(ALPHABET)] for b in os.urandom(64) if b < limit]
    return "".join(chars[:LENGTH])


def ensure_cookie(root: str) -> str:
    """The cookie, creating it (0400, see :func:`cookie_path`) when there is none."""
    found = read_cookie(root)
    if found:
        return found
    from pyrelease.node.safefiles import check_tmp, create_new

    value = _random_cookie()
    path = cookie_path(root)
    if not path.startswith(os.path.join(root, "releases")):
        check_tmp(os.path.dirname(path))  # private, and no one else's links in it
    # Complete from the moment it exists (a reader never sees it empty), never
    # written through a link: written aside, then linked into place.
    try:
        created = create_new(path, value.encode(), 0o400)
    except OSError as exc:  # a release owned by another user
        why = (exc.strerror or str(exc)).lower()
        raise CookieError(
            f"cannot create the cookie file {path} ({why}); "
            "give the cookie in RELEASE_COOKIE, or create that file (mode 0400)"
        ) from None
    if not created:  # another node was first
        return read_cookie(root) or value
    return value
