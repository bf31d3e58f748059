"""Pure: what a note in the ATS says about a candidate's notifications (one line per state change).

A recruiter reads it on the candidate's activity feed: which message, on which channel, what happened and
why (the router's and the notifier's reasons carry no contact data). One note per candidate per batch.
Every note ends with its marker (MARKER_PREFIX + a hash of its idempotency keys): the write-back finds a note
the ATS took just before a crash by it, and a recruiter can ignore it (it says nothing about the candidate).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from schemas.common import NotificationStatus
from schemas.status import StatusChange

HEADER = "Candidate communication (candidate-comms)"
_CHANNELS = {"email": "e-mail", "sms": "SMS", "whatsapp": "WhatsApp", "voice": "phone", "portal": "the portal"}
_WHAT = {
    NotificationStatus.SENT: "sent by {channel}",
    NotificationStatus.DELIVERED: "delivered by {channel}",
    NotificationStatus.READ: "read ({channel})",
    NotificationStatus.REPLIED: "the candidate replied ({channel})",
    NotificationStatus.FAILED: "could not be sent by {channel}",
    NotificationStatus.BOUNCED: "bounced ({channel})",
    NotificationStatus.CANCELLED: "cancelled",
    NotificationStatus.NEEDS_RECRUITER: "needs a recruiter: no channel the candidate accepts can carry it",
    NotificationStatus.HELD: "held until the candidate's preferred time",
    NotificationStatus.QUEUED: "queued for {channel}",
    NotificationStatus.SUPPRESSED: "not sent: the candidate's data was erased",
}


MARKER_PREFIX = "ref: candidate-comms/"


def note_marker(keys: Iterable[str]) -> str:
    """A short marker stable for one set of idempotency keys (a hash: no ids or personal data readable)."""
    digest = hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()[:20]
    return f"{MARKER_PREFIX}{digest}"


def with_marker(text: str, marker: str) -> str:
    """The note as written to the ATS: its text, then its marker on a line of its own."""
    return f"{text}\n{marker}"


def note_key(change: StatusChange) -> str:
    """The idempotency key of one state change's line: one note per notification and state, ever."""
    return f"{change.notification_id}:{change.status.value}"


def line(change: StatusChange) -> str:
    """One state change in words."""
    channel = _CHANNELS.get(change.channel.value, change.channel.value) if change.channel else "no channel"
    what = _WHAT[change.status].format(channel=channel)
    if change.status is NotificationStatus.BOUNCED and change.contact_invalid:
        what += "; the address does not exist"
    parts = [f"{change.occurred_at:%Y-%m-%d %H:%M} UTC", f"{change.stage.value.replace('_', ' ')} message", what]
    if change.attempt > 1:
        parts.append(f"attempt {change.attempt}")
    text = " - ".join(parts)
    if change.reason:
        text += f" (why: {change.reason})"
    if change.choice_not_honoured is not None:
        preferred = _CHANNELS.get(change.choice_not_honoured.value, change.choice_not_honoured.value)
        text += f"; the candidate's choice of {preferred} could not be honoured"
    return text


def note_text(changes: Sequence[StatusChange]) -> str:
    """The note for one candidate: a header and a line per state change, oldest first."""
    ordered = sorted(changes, key=lambda c: c.occurred_at)
    return "\n".join([HEADER, *(f"- {line(c)}" for c in ordered)])
