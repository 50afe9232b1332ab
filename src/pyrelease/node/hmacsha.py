"""HMAC-SHA256 for the control channel, without loading OpenSSL in a management command.

``hmac`` imports ``_hashlib``, which loads OpenSSL's libcrypto: several
milliseconds for a command that hashes a few hundred bytes. When libcrypto is
already loaded (a node that imported ``hashlib`` or ``ssl``), its HMAC is used;
otherwise the standard library's own SHA-256 (``_sha2``, ``_sha256`` before
3.12) with HMAC's construction (RFC 2104), as ``hmac.HMAC`` builds it when
OpenSSL is missing. Both give the same bytes (tested against ``hmac`` and the
RFC 4231 vectors).
"""

import sys
from _operator import _compare_digest as compare_digest  # what hmac.compare_digest is

__all__ = ["compare_digest", "digest"]

BLOCK = 64  # SHA-256's block size in bytes
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))

try:  # the module's name on this version first: a failed import searches the path
    if sys.version_info >= (3, 12):
        from _sha2 import sha256 as _sha256
    else:
        from _sha256 import sha256 as _sha256
except ImportError:  # a Python built without its own hashes
    _sha256 = None  # type: ignore[assignment]


def digest(key: bytes, msg: bytes) -> bytes:
    """HMAC-SHA256 of ``msg`` under ``key`` (``hmac.digest(key, msg, "sha256")``)."""
    openssl = sys.modules.get("_hashlib")
    if openssl is not None:
        return openssl.hmac_digest(key, msg, "sha256")
    if _sha256 is None:
        import hmac

        return hmac.digest(key, msg, "sha256")
    if len(key) > BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(BLOCK, b"\0")
    inner = _sha256(key.translate(_IPAD))
    inner.update(msg)
    outer = _sha256(key.translate(_OPAD))
    outer.update(inner.digest())
    return outer.digest()
