"""Recruiter page sessions: an API key exchanged once for a signed cookie, and the CSRF token of its forms.

The cookie holds a random session id, who logged in, when it expires and a fingerprint of the key
used (never the key): removing a key from `api_keys` ends its sessions at once. The CSRF token is an
HMAC of the session id, so a form posted from another site (which cannot read the cookie or the
page) fails, even where SameSite is not enforced.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

SESSION_COOKIE = "recruiter_session"
SESSION_TTL = timedelta(hours=12)  # one working day; a stolen cookie does not outlive it


@dataclass(frozen=True)
class RecruiterSession:
    """A logged-in recruiter."""

    session_id: str
    key_id: str
    who: str
    expires: datetime


def key_id(key: str) -> str:
    """A short fingerprint of an API key (safe to store in a cookie)."""
    return hashlib.sha256(f"recruiter-api-key:{key}".encode()).hexdigest()[:16]


def _sign(secret: bytes, body: str) -> str:
    return hmac.new(secret, f"recruiter-session:{body}".encode(), hashlib.sha256).hexdigest()


def open_session(secret: bytes, key: str, who: str, now: datetime) -> str:
    """The cookie value of a new session."""
    payload = {
        "sid": secrets.token_urlsafe(16),
        "kid": key_id(key),
        "who": " ".join(who.split())[:60] or "recruiter",
        "exp": int((now + SESSION_TTL).timestamp()),
    }
    body = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")
    return f"{body}.{_sign(secret, body)}"


def read_session(secret: bytes, value: str | None, key_ids: Collection[str], now: datetime) -> RecruiterSession | None:
    """The session a cookie carries, or None when it is missing, forged, expired or its key was revoked."""
    if not value or value.count(".") != 1:
        return None
    body, signature = value.split(".")
    if not hmac.compare_digest(signature, _sign(secret, body)):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = RecruiterSession(
            session_id=str(payload["sid"]),
            key_id=str(payload["kid"]),
            who=str(payload["who"]),
            expires=datetime.fromtimestamp(int(payload["exp"]), UTC),
        )
    except (ValueError, KeyError, TypeError):
        return None
    if session.expires <= now or session.key_id not in key_ids:
        return None
    return session


def csrf_token(secret: bytes, session: RecruiterSession) -> str:
    """The CSRF token of a session's forms."""
    return hmac.new(secret, f"recruiter-csrf:{session.session_id}".encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session: RecruiterSession, offered: str) -> bool:
    """A form's token matches its session (constant time)."""
    return hmac.compare_digest(offered, csrf_token(secret, session))
