"""Webhook fixtures and signing as each ATS signs, written from the ATS's documents (not from our adapters)."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(ats: str, name: str) -> dict[str, Any]:
    """A webhook body of one ATS and event type, as a dict to adjust."""
    loaded: dict[str, Any] = json.loads((FIXTURES / ats / f"{name}.json").read_text())
    return loaded


def body_of(doc: dict[str, Any]) -> bytes:
    """Serialise as Greenhouse does: Unicode escaped (ensure_ascii), so the signature covers the escapes."""
    return json.dumps(doc).encode()


def greenhouse_headers(body: bytes, secret: str, event_id: str | None = None) -> dict[str, str]:
    """developers.greenhouse.io/webhooks.html: 'Signature: sha256 <hex HMAC of the body>', Greenhouse-Event-ID."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Signature": f"sha256 {digest}",
        "Greenhouse-Event-ID": event_id or str(uuid.uuid4()),
        "User-Agent": "Greenhouse",
    }


def recruitee_headers(body: bytes, secret: str) -> dict[str, str]:
    """docs.recruitee.com/docs/webhooks: X-Recruitee-Signature, the hex HMAC-SHA256 of the raw body."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "User-Agent": "Recruitee-Webhooks", "X-Recruitee-Signature": digest}
