"""Signed, expiring, single-candidate self-service tokens (the notifier signs, the preference service checks).

token = base64url(candidate id) "." expiry (unix seconds) "." base64url(HMAC-SHA256(secret, both))
Reusable until it expires; it names exactly one candidate; nothing else is inside.

Exactly one spelling of a token verifies: the one `sign` writes. Lenient parsing (int() takes "007",
"+7", " 7" and other scripts' digits; base64 decoders skip stray characters and padding) would give
one link many names, and every name its own budget under the per-link rate limit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from datetime import datetime

# ASCII only, no padding, no leading zeros or signs: the exact shape `sign` produces.
_TOKEN = re.compile(r"([A-Za-z0-9_-]{1,700})\.(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})", re.ASCII)


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
    """The candidate id a valid token names; InvalidToken otherwise (also for any other spelling of it)."""
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise InvalidToken("malformed token")
    cid_part, expiry_text, signature = match.groups()
    try:
        candidate_id = _unb64(cid_part).decode()
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("malformed token") from None
    # Base64 leaves slack in the last character's spare bits: only the encoding `sign` writes counts.
    if _b64(candidate_id.encode()) != cid_part:
        raise InvalidToken("malformed token")
    expiry = int(expiry_text)
    if not hmac.compare_digest(signature.encode(), _sig(secret, cid_part, expiry).encode()):
        raise InvalidToken("bad signature")
    if expiry < now.timestamp():
        raise InvalidToken("expired")
    return candidate_id
