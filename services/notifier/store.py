"""The only module of the notifier that touches MongoDB: send claims, the timeline, the worklist.

sends     - one document per notification id: claimed -> sent | failed | bounced (the idempotency record)
timeline  - one document per notification: rendered content, reasons, forward-only status history
worklist  - what needs a human: needs_recruiter, unparsed replies, call tasks
inbound   - one document per candidate and channel: when the candidate last wrote (WhatsApp's 24-hour window)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient, UpdateOne
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from schemas.common import STATUS_RANK
from schemas.status import StatusChange


@dataclass(frozen=True)
class SendRecord:
    """The idempotency record of one notification."""

    notification_id: str
    state: str  # claimed | sent | failed | bounced
    channel: str
    candidate_id: str
    provider: str | None = None
    provider_ref: str | None = None
    reason: str = ""


@dataclass(frozen=True)
class TimelineEntry:
    """What was sent (or tried), as the recruiter sees it."""

    notification_id: str
    candidate_id: str
    application_id: str | None
    ats_event_id: str
    channel: str
    stage: str
    attempt: int
    template: str
    template_version: int
    language: str
    reasons: tuple[str, ...]
    subject: str
    body: str
    at: datetime


class NotifierStore(Protocol):
    """Persistence of the notifier."""

    async def claim(self, records: Sequence[SendRecord], now: datetime) -> dict[str, SendRecord]: ...
    async def finish(self, records: Sequence[SendRecord], now: datetime) -> None: ...
    async def send_by_ref(self, provider_ref: str) -> SendRecord | None: ...
    async def save_content(self, entries: Sequence[TimelineEntry]) -> None: ...
    async def apply_statuses(self, changes: Sequence[StatusChange]) -> list[StatusChange]: ...
    async def timeline(self, candidate_id: str, application_id: str | None = None) -> list[dict[str, Any]]: ...
    async def add_work(self, items: Sequence[dict[str, Any]]) -> None: ...
    async def worklist(self, include_handled: bool = False) -> list[dict[str, Any]]: ...
    async def mark_handled(self, item_id: str, by: str, now: datetime) -> bool: ...
    async def erase(self, candidate_id: str) -> None: ...
    async def record_inbound(self, candidate_id: str, channel: str, at: datetime) -> None: ...
    async def last_inbound(self, candidate_id: str, channel: str) -> datetime | None: ...


def _record(d: dict[str, Any]) -> SendRecord:
    return SendRecord(
        notification_id=d["_id"],
        state=d["state"],
        channel=d["channel"],
        candidate_id=d["candidate_id"],
        provider=d.get("provider"),
        provider_ref=d.get("provider_ref"),
        reason=d.get("reason", ""),
    )


def _ignore_duplicates(exc: BulkWriteError) -> list[int]:
    errors = exc.details.get("writeErrors", [])
    if any(e.get("code") != 11000 for e in errors):
        raise exc
    return [e["index"] for e in errors]


class MongoNotifierStore:
    """NotifierStore on MongoDB/FerretDB."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._sends = self._db["sends"]
        self._timeline = self._db["timeline"]
        self._work = self._db["worklist"]
        self._inbound = self._db["inbound"]

    async def ensure_indexes(self) -> None:
        """Indexes for callbacks, timelines and the worklist."""
        await self._sends.create_index([("provider_ref", 1)])
        await self._timeline.create_index([("candidate_id", 1), ("created_at", 1)])
        await self._work.create_index([("handled_at", 1), ("created_at", 1)])

    async def claim(self, records: Sequence[SendRecord], now: datetime) -> dict[str, SendRecord]:
        """Claim notifications for sending; return the records that existed already (not claimed now)."""
        if not records:
            return {}
        docs = [
            {
                "_id": r.notification_id,
                "state": "claimed",
                "channel": r.channel,
                "candidate_id": r.candidate_id,
                "claimed_at": now,
                "updated_at": now,
            }
            for r in records
        ]
        try:
            await self._sends.insert_many(docs, ordered=False)
            return {}
        except BulkWriteError as exc:
            dup_ids = [records[i].notification_id for i in _ignore_duplicates(exc)]
        return {d["_id"]: _record(d) async for d in self._sends.find({"_id": {"$in": dup_ids}})}

    async def finish(self, records: Sequence[SendRecord], now: datetime) -> None:
        """Record how sends ended (sent, failed, bounced), with the provider's reference."""
        if records:
            ops = [
                UpdateOne(
                    {"_id": r.notification_id},
                    {
                        "$set": {
                            "state": r.state,
                            "provider": r.provider,
                            "provider_ref": r.provider_ref,
                            "reason": r.reason,
                            "updated_at": now,
                        }
                    },
                )
                for r in records
            ]
            await self._sends.bulk_write(ops, ordered=False)

    async def send_by_ref(self, provider_ref: str) -> SendRecord | None:
        """The send a provider reference belongs to (status callbacks, replies)."""
        d = await self._sends.find_one({"provider_ref": provider_ref})
        return _record(d) if d else None

    async def save_content(self, entries: Sequence[TimelineEntry]) -> None:
        """Store what was rendered, next to the status history that arrives through events."""
        if entries:
            ops = []
            for e in entries:
                fields = {k: v for k, v in e.__dict__.items() if k not in ("notification_id", "at")}
                fields["reasons"] = list(e.reasons)
                ops.append(
                    UpdateOne(
                        {"_id": e.notification_id}, {"$set": fields, "$setOnInsert": {"created_at": e.at}}, upsert=True
                    )
                )
            await self._timeline.bulk_write(ops, ordered=False)

    async def apply_statuses(self, changes: Sequence[StatusChange]) -> list[StatusChange]:
        """Apply forward-only state changes to the timeline; return those that moved a notification."""
        applied = []
        for c in changes:
            rank = STATUS_RANK[c.status]
            entry = {"status": c.status.value, "at": c.occurred_at, "reason": c.reason, "provider": c.provider}
            result = await self._timeline.update_one(
                {"_id": c.notification_id, "rank": {"$not": {"$gte": rank}}},
                {
                    "$set": {
                        "status": c.status.value,
                        "rank": rank,
                        "candidate_id": c.candidate_id,
                        "application_id": c.application_id,
                        "channel": c.channel.value if c.channel else None,
                        "stage": c.stage.value,
                        "attempt": c.attempt,
                        "ats_event_id": c.ats_event_id,
                        "updated_at": c.occurred_at,
                    },
                    "$push": {"history": entry},
                    "$setOnInsert": {"created_at": c.occurred_at},
                },
                upsert=False,
            )
            if result.matched_count == 0:
                try:
                    await self._timeline.insert_one(
                        {
                            "_id": c.notification_id,
                            "status": c.status.value,
                            "rank": rank,
                            "candidate_id": c.candidate_id,
                            "application_id": c.application_id,
                            "channel": c.channel.value if c.channel else None,
                            "stage": c.stage.value,
                            "attempt": c.attempt,
                            "ats_event_id": c.ats_event_id,
                            "history": [entry],
                            "created_at": c.occurred_at,
                            "updated_at": c.occurred_at,
                        }
                    )
                except Exception as exc:
                    if "E11000" not in str(exc) and "duplicate" not in str(exc).lower():
                        raise
                    continue
            applied.append(c)
        return applied

    async def timeline(self, candidate_id: str, application_id: str | None = None) -> list[dict[str, Any]]:
        """Every notification of a candidate, oldest first."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        if application_id:
            query["application_id"] = application_id
        return [d async for d in self._timeline.find(query).sort("created_at", 1)]

    async def add_work(self, items: Sequence[dict[str, Any]]) -> None:
        """Add worklist items (idempotent by their _id)."""
        if items:
            try:
                await self._work.insert_many(list(items), ordered=False)
            except BulkWriteError as exc:
                _ignore_duplicates(exc)

    async def worklist(self, include_handled: bool = False) -> list[dict[str, Any]]:
        """Open items (or all), oldest first."""
        query: dict[str, Any] = {} if include_handled else {"handled_at": None}
        return [d async for d in self._work.find(query).sort("created_at", 1).limit(1000)]

    async def mark_handled(self, item_id: str, by: str, now: datetime) -> bool:
        """Close a worklist item."""
        result = await self._work.update_one(
            {"_id": item_id, "handled_at": None}, {"$set": {"handled_at": now, "handled_by": by}}
        )
        return result.modified_count == 1

    async def erase(self, candidate_id: str) -> None:
        """Forget everything about a candidate (after the preference service's tombstone)."""
        for coll in (self._sends, self._timeline, self._work, self._inbound):
            await coll.delete_many({"candidate_id": candidate_id})

    async def record_inbound(self, candidate_id: str, channel: str, at: datetime) -> None:
        """Remember that the candidate wrote on a channel (only a later time moves it)."""
        await self._inbound.update_one(
            {"_id": f"{candidate_id}:{channel}"},
            {"$max": {"last_at": at}, "$setOnInsert": {"candidate_id": candidate_id, "channel": channel}},
            upsert=True,
        )

    async def last_inbound(self, candidate_id: str, channel: str) -> datetime | None:
        """When the candidate last wrote on a channel, if ever."""
        d = await self._inbound.find_one({"_id": f"{candidate_id}:{channel}"})
        return d["last_at"] if d else None

    async def known_ids(self, ids: Iterable[str]) -> set[str]:
        """Which notification ids have a timeline."""
        return {d["_id"] async for d in self._timeline.find({"_id": {"$in": list(ids)}}, {"_id": 1})}
