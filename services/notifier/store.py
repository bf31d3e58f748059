"""The only module of the notifier that touches MongoDB: send claims, the timeline, the worklist.

The hot path only inserts (batched, and an insert's unique key is atomic on FerretDB as on MongoDB),
two documents per send:
claims        - one document per notification id, written before the provider call
outcomes      - one per notification id, written after it: sent | failed | suppressed (+ the provider's
                reference, the message's stage and event, and what was rendered for the timeline)
provider_refs - provider reference -> notification id, for references the provider chose (an SMS sid);
                an e-mail's reference is its Message-ID, made from the notification id
states        - every other state change of every notification (`<id>:<state>`: the router's, callbacks',
                bounces'); the timeline derives the forward-only history from them and the outcomes
contents      - what was rendered, as stored before outcomes carried it (read for older timelines)
worklist      - what needs a human: needs_recruiter, unparsed replies, call tasks
inbound       - when a candidate last wrote per channel (WhatsApp's 24-hour window)

Why no in-place updates: FerretDB 1.24 (SQLite) applies each update statement on its own pooled
connection and holds them until the command ends, so a bulk of 100 updates deadlocks the 100-
connection pool; and an update costs about 1 ms against 0.06 ms per batched insert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas.common import STATUS_RANK, Channel, NotificationStatus
from schemas.status import StatusChange
from services.common.mongo import find_by_ids, insert_new


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
    # The message the send belongs to (callbacks and bounces report states of it without a lookup).
    ats_event_id: str | None = None
    application_id: str | None = None
    stage: str | None = None
    attempt: int = 1
    # The router's `queued` state of the message (the dispatch command's decision time and reasons): kept
    # here instead of as a state document of its own.
    queued_at: datetime | None = None
    queued_reason: str = ""
    ended_at: datetime | None = None  # when the provider answered (None: recorded before this was kept)
    # Where the message's command is on dispatch.<channel> (`<partition>:<offset>`): a failure or bounce names
    # it, so the router decides the fallback from the command (the router keeps no copy of what went out).
    dispatch_ref: str | None = None

    def context(self) -> dict[str, Any] | None:
        """The message's ids and stage as a timeline entry has them (None for a record stored without them)."""
        if self.stage is None or self.ats_event_id is None:
            return None
        keys = ("ats_event_id", "application_id", "stage", "attempt")
        return {"_id": self.notification_id, **{k: getattr(self, k) for k in keys}}


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
    async def finish(
        self, records: Sequence[SendRecord], contents: Mapping[str, TimelineEntry], now: datetime
    ) -> None: ...
    async def send_by_ref(self, provider_ref: str) -> SendRecord | None: ...
    async def send_of(self, notification_id: str) -> SendRecord | None: ...
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
        ats_event_id=d.get("ats_event_id"),
        application_id=d.get("application_id"),
        stage=d.get("stage"),
        attempt=d.get("attempt", 1),
        dispatch_ref=d.get("dispatch_ref"),
    )


_CONTENT = ("template", "template_version", "language", "reasons", "subject", "body")


def outcome_states(d: dict[str, Any]) -> list[dict[str, Any]]:
    """The states an outcome holds, as the timeline's state documents: the send's end and the router's `queued`.

    None for an outcome stored before outcomes had a stage (its states are state documents).
    """
    if d.get("stage") is None:
        return []
    keys = ("candidate_id", "application_id", "channel", "stage", "attempt", "ats_event_id")
    common = {"notification_id": d["_id"], **{k: d.get(k) for k in keys}}
    ended = NotificationStatus(d["state"])
    states = [
        {**common, "status": ended.value, "rank": STATUS_RANK[ended], "at": d["at"], "reason": d.get("reason"),
         "provider": d.get("provider")},
    ]  # fmt: skip
    if d.get("queued_at") is not None:
        queued = NotificationStatus.QUEUED
        states.append(
            {**common, "status": queued.value, "rank": STATUS_RANK[queued], "at": d["queued_at"],
             "reason": d.get("queued_reason"), "provider": None}
        )  # fmt: skip
    return states


def assemble_timeline(states: Iterable[dict[str, Any]], contents: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per notification: its content and the states that moved it forward, in arrival order."""
    by_id: dict[str, list[dict[str, Any]]] = {}
    for st in states:
        by_id.setdefault(st["notification_id"], []).append(st)
    rows = []
    for nid, seen in by_id.items():
        seen.sort(key=lambda d: (d["at"], d["rank"]))
        history, rank = [], -1
        for st in seen:
            if st["rank"] > rank:  # a late `delivered` after `read` is not shown as a step back
                rank = st["rank"]
                history.append({k: st[k] for k in ("status", "at", "reason", "provider")})
        last = max(seen, key=lambda d: d["rank"])
        row = {k: last[k] for k in ("candidate_id", "application_id", "channel", "stage", "attempt", "ats_event_id")}
        content = {k: v for k, v in contents.get(nid, {}).items() if k not in ("_id", "at")}
        rows.append(
            {
                **row,
                **content,
                "_id": nid,
                "status": last["status"],
                "rank": last["rank"],
                "history": history,
                "created_at": seen[0]["at"],
                "updated_at": seen[-1]["at"],
            }
        )
    return sorted(rows, key=lambda r: r["created_at"])


async def sent_message(
    store: NotifierStore, find: Callable[[], Awaitable[SendRecord | None]], wait_s: float
) -> tuple[SendRecord, dict[str, Any]] | None:
    """A send and its message's ids and stage, waiting up to `wait_s` (a receipt or DSN can beat our record).

    The outcome carries them; an outcome stored before it did is matched in the candidate's timeline.
    """
    deadline = time.monotonic() + wait_s
    while True:
        record = await find()
        if record is not None and (entry := record.context()) is not None:
            return record, entry
        if record is not None:
            for entry in await store.timeline(record.candidate_id):
                if entry.get("_id") == record.notification_id and entry.get("stage"):
                    return record, entry
        if time.monotonic() >= deadline:
            return None
        await asyncio.sleep(0.05)


class MongoNotifierStore:
    """NotifierStore on MongoDB/FerretDB."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._sends = self._db["claims"]
        self._outcomes = self._db["outcomes"]
        self._refs = self._db["provider_refs"]  # provider reference -> notification id (callbacks read by _id)
        self._contents = self._db["contents"]
        self._states = self._db["states"]
        self._work = self._db["worklist"]
        self._inbound = self._db["inbound"]

    async def ensure_indexes(self) -> None:
        """Indexes for callbacks, timelines and the worklist."""
        await self._outcomes.create_index([("provider_ref", 1)])
        await self._contents.create_index([("candidate_id", 1)])
        await self._states.create_index([("candidate_id", 1)])
        await self._work.create_index([("handled_at", 1), ("created_at", 1)])

    async def claim(self, records: Sequence[SendRecord], now: datetime) -> dict[str, SendRecord]:
        """Claim notifications for sending; return the records that existed already (not claimed now)."""
        docs = [
            {"_id": r.notification_id, "channel": r.channel, "candidate_id": r.candidate_id, "claimed_at": now}
            for r in records
        ]
        dup_ids = [records[i].notification_id for i in await insert_new(self._sends, docs)]
        if not dup_ids:
            return {}
        done = await find_by_ids(self._outcomes, dup_ids)
        out = {}
        for r in records:
            if r.notification_id in dup_ids:
                d = done.get(r.notification_id)
                out[r.notification_id] = (
                    _record(d) if d else SendRecord(r.notification_id, "claimed", r.channel, r.candidate_id)
                )
        return out

    async def finish(self, records: Sequence[SendRecord], contents: Mapping[str, TimelineEntry], now: datetime) -> None:
        """Record how sends ended, with the provider's reference and what was rendered (first outcome wins)."""
        docs = []
        for r in records:
            doc = {k: v for k, v in r.__dict__.items() if k not in ("notification_id", "ended_at")}
            entry = contents.get(r.notification_id)
            if entry is not None:
                doc["content"] = {k: getattr(entry, k) for k in _CONTENT} | {"reasons": list(entry.reasons)}
            docs.append({"_id": r.notification_id, **doc, "at": r.ended_at or now})
        await insert_new(self._outcomes, docs)
        await insert_new(
            self._refs,
            [
                {"_id": r.provider_ref, "notification_id": r.notification_id, "candidate_id": r.candidate_id}
                for r in records
                if r.provider_ref and r.channel != Channel.EMAIL.value  # an e-mail's is found by `_id` (send_of)
            ],
        )

    async def send_by_ref(self, provider_ref: str) -> SendRecord | None:
        """The send a provider reference belongs to (status callbacks, replies): two point reads."""
        ref = await self._refs.find_one({"_id": provider_ref})
        return await self.send_of(ref["notification_id"]) if ref else None

    async def send_of(self, notification_id: str) -> SendRecord | None:
        """The outcome of a notification's send (e-mail bounces and replies name the notification): a point read."""
        d = await self._outcomes.find_one({"_id": notification_id})
        return _record(d) if d else None

    async def apply_statuses(self, changes: Sequence[StatusChange]) -> list[StatusChange]:
        """Record state changes (idempotent per notification and state); return the ones seen for the first time."""
        docs = [
            {
                "_id": f"{c.notification_id}:{c.status.value}",
                "notification_id": c.notification_id,
                "status": c.status.value,
                "rank": STATUS_RANK[c.status],
                "candidate_id": c.candidate_id,
                "application_id": c.application_id,
                "channel": c.channel.value if c.channel else None,
                "stage": c.stage.value,
                "attempt": c.attempt,
                "ats_event_id": c.ats_event_id,
                "at": c.occurred_at,
                "reason": c.reason,
                "provider": c.provider,
            }
            for c in changes
        ]
        seen = set(await insert_new(self._states, docs))
        return [c for i, c in enumerate(changes) if i not in seen]

    async def timeline(self, candidate_id: str, application_id: str | None = None) -> list[dict[str, Any]]:
        """Every notification of a candidate, oldest first, with its forward-only status history."""
        query: dict[str, Any] = {"candidate_id": candidate_id}
        states = [d async for d in self._states.find(query)]
        contents = {d["_id"]: d async for d in self._contents.find(query)}  # stored before outcomes had content
        async for d in self._outcomes.find(query):
            states.extend(outcome_states(d))
            if "content" in d:
                contents[d["_id"]] = {**{k: d.get(k) for k in ("candidate_id", "channel")}, **d["content"]}
        rows = assemble_timeline(states, contents)
        return [r for r in rows if not application_id or r.get("application_id") == application_id]

    async def add_work(self, items: Sequence[dict[str, Any]]) -> None:
        """Add worklist items (idempotent by their _id)."""
        await insert_new(self._work, list(items))

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
        for coll in (self._sends, self._outcomes, self._refs, self._contents, self._states, self._work, self._inbound):
            await coll.delete_many({"candidate_id": candidate_id})
        # Unattributed replies from a number several candidates share hold that number: each holder erases them.
        await self._work.delete_many({"sharing": candidate_id})

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
