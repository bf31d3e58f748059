"""Deterministic ids: a redelivered event yields the same notification id and idempotency key.

The channel is not part of a message's identity: a decision taken again (an event redelivered after a
crash, a held message re-decided when the candidate changes their mind) names the same message whatever
channel it now picks, so the notifier's claim on the id sends it at most once.
"""

from __future__ import annotations

import uuid

# Fixed namespace of this product (uuid5 of its name), never to change: ids must stay stable.
NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:candidate-comms:notification")


def notification_id(ats_event_id: str, purpose: str, attempt: int) -> str:
    """UUIDv5 of (ATS event id, purpose, attempt): one id per message, whichever channel carries it."""
    name = f"{ats_event_id}|{purpose}|{attempt}"
    return str(uuid.uuid5(NAMESPACE, name))
