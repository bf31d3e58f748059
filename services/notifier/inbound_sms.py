"""Inbound SMS and WhatsApp messages: which candidate wrote, and where their words go.

A number names its candidate through the PhoneBook (the preference view indexed by number). When
several candidates share a number (a family phone, an agency's), the message answers the one we last
sent a message to on that channel, as our own timeline records it. When none of them had a message
from us there, or the number is nobody's, the message waits on the recruiter's worklist as an
unattributed reply, with its text and the number: it is never dropped. A provider retry of the same
message (same MessageSid) is the same event and the same worklist item.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from schemas.common import Channel
from schemas.inbound import InboundReply
from services.notifier.metrics import NotifierMetrics
from services.notifier.reports import Reports
from services.notifier.store import NotifierStore

Owners = Callable[[str, Channel], Awaitable[Sequence[str]]]
Clock = Callable[[], datetime]
MAX_TEXT = 2000  # InboundReply.text


@dataclass(frozen=True)
class Answered:
    """The candidate a message answers, and our message it answers when known."""

    candidate_id: str
    notification_id: str | None
    application_id: str | None


def last_sent(rows: Sequence[Mapping[str, Any]], channel: str) -> tuple[datetime, Mapping[str, Any]] | None:
    """When we last sent a message on `channel`, and its timeline row (rows as NotifierStore.timeline gives them)."""
    best: tuple[datetime, Mapping[str, Any]] | None = None
    for row in rows:
        if row.get("channel") != channel:
            continue
        when = next((h.get("at") for h in row.get("history", ()) if h.get("status") == "sent"), None)
        if isinstance(when, datetime) and (best is None or when > best[0]):
            best = (when, row)
    return best


def answered(
    owners: Sequence[str], timelines: Mapping[str, Sequence[Mapping[str, Any]]], channel: str
) -> Answered | None:
    """Who a message from a number answers: its only owner, else the owner we sent to last; None when unclear."""
    if len(owners) == 1:
        rows = [r for r in timelines.get(owners[0], ()) if r.get("channel") == channel]
        found = last_sent(rows, channel)
        row = found[1] if found else (rows[-1] if rows else None)
        return Answered(owners[0], row["_id"] if row else None, row.get("application_id") if row else None)
    dated = [(found[0], cid, found[1]) for cid in owners if (found := last_sent(timelines.get(cid, ()), channel))]
    dated.sort(key=lambda d: d[0], reverse=True)
    if not dated or (len(dated) > 1 and dated[0][0] == dated[1][0]):
        return None  # nothing sent to any of them here, or two messages at the same instant: a person decides
    _, candidate_id, row = dated[0]
    return Answered(candidate_id, row["_id"], row.get("application_id"))


def unattributed_item(
    params: Mapping[str, str], channel: Channel, owners: Sequence[str], now: datetime
) -> dict[str, Any]:
    """The worklist item for a message nobody can be named for (idempotent by the provider's MessageSid)."""
    number = params.get("From", "").removeprefix("whatsapp:")
    sid = params.get("MessageSid", "")
    key = sid or hashlib.sha256(f"{number}\n{params.get('Body', '')}".encode("utf-8", "replace")).hexdigest()[:32]
    why = (
        f"a reply from a number {len(owners)} candidates share, none of whom had a {channel.value} message from us"
        if owners
        else "a reply from a number no candidate has"
    )
    return {
        "_id": f"unattributed_reply:{key[:200]}",
        "kind": "unattributed_reply",
        "candidate_id": None,
        "application_id": None,
        "notification_id": None,
        "channel": channel.value,
        "stage": None,
        "reason": f"{why}; nothing was changed",
        "sharing": list(owners),  # erasing any of them erases this item too (it holds their number)
        "created_at": now,
        "handled_at": None,
        "details": {"phone": number, "text": params.get("Body", "").strip()[:MAX_TEXT], "candidates": list(owners)},
    }


class InboundMessages:
    """Turns one signed inbound-message webhook into a reply event or a worklist item."""

    def __init__(
        self, store: NotifierStore, reports: Reports, metrics: NotifierMetrics, owners: Owners, clock: Clock
    ) -> None:
        self._store, self._reports, self._metrics = store, reports, metrics
        self._owners, self._clock = owners, clock

    async def receive(self, params: Mapping[str, str]) -> None:
        """Attribute the message and record it; raises only when our store or broker fails (the provider retries)."""
        sender = params.get("From", "")
        channel = Channel.WHATSAPP if sender.startswith("whatsapp:") else Channel.SMS
        owners = sorted(set(await self._owners(sender.removeprefix("whatsapp:"), channel)))
        rows = await asyncio.gather(*(self._store.timeline(cid) for cid in owners))
        found = answered(owners, dict(zip(owners, rows, strict=True)), channel.value)
        now = self._clock()
        if found is None:
            await self._store.add_work([unattributed_item(params, channel, owners, now)])
            self._count(channel, "shared_number_unattributed" if owners else "unknown_sender")
            return
        if len(owners) > 1:
            self._count(channel, "shared_number_attributed")
        await self._reply(found, channel, params, now)

    async def _reply(self, found: Answered, channel: Channel, params: Mapping[str, str], now: datetime) -> None:
        await self._store.record_inbound(found.candidate_id, channel.value, now)
        sid = params.get("MessageSid", "")[:200]
        reply = InboundReply(
            candidate_id=found.candidate_id,
            channel=channel,
            text=params.get("Body", "").strip()[:MAX_TEXT],
            received_at=now,
            in_reply_to=found.notification_id,
            application_id=found.application_id,
            provider_ref=sid or None,
        )
        wave = self._reports.wave()
        await wave.reply(reply, f"inbound:{sid}" if sid else f"inbound:{found.candidate_id}:{now.isoformat()}")
        await wave.flush()
        self._metrics.replies.labels(channel=channel.value).inc()

    def _count(self, channel: Channel, status: str) -> None:
        self._metrics.provider_status.labels(channel=channel.value, status=status).inc()
