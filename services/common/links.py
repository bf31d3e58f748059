"""Signed, expiring, single-candidate self-service tokens (the notifier signs, the preference service checks).

token = base64url(candidate id) "." expiry (unix seconds) "." base64url(HMAC-SHA256(secret, both))
Reusable until it expires; it names exactly one candidate; nothing else is inside.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime


class InvalidToken(ValueError):  # noqa: N818 - reads better at the call sites than InvalidTokenError
    """Forged, malformed, expired or for another candidate."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sig(secret: bytes, cid_part: str, expiry: int) -> str:
    return _b64(hmac.new(secret, f"{cid_part}.{expiry}".encode(), hashlib.sha256).digest())


def sign(secret: bytes, candidate_id: str, expires_at: datetime) -> str:
    """A token for one candidate, valid until `expires_at`."""
    cid_part = _b64(candidate_id.encode())
    expiry = int(expires_at.timestamp())
    return f"{cid_part}.{expiry}.{_sig(secret, cid_part, expiry)}"


def verify(secret: bytes, token: str, now: datetime) -> str:
    """The candidate id a valid token names; InvalidToken otherwise."""
    try:
        cid_part, expiry_text, signature = token.split(".")
        expiry = int(expiry_text)
        candidate_id = _unb64(cid_part).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(signature, _sig(secret, cid_part, expiry)):
        raise InvalidToken("bad signature")
    if expiry < now.timestamp():
        raise InvalidToken("expired")
    return candidate_id
