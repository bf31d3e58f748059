"""Deterministic ids: a redelivered event yields the same notification id and idempotency key."""

from __future__ import annotations

import uuid

from schemas.common import Channel

# Fixed namespace of this product (uuid5 of its name), never to change: ids must stay stable.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:candidate-comms:notification")


def notification_id(ats_event_id: str, purpose: str, channel: Channel | None, attempt: int) -> str:
    """UUIDv5 of (ATS event id, purpose, channel, attempt)."""
    name = f"{ats_event_id}|{purpose}|{channel.value if channel else '-'}|{attempt}"
    return str(uuid.uuid5(NAMESPACE, name))
