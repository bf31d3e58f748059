"""The only module of the router that touches MongoDB: routed messages (held, scheduled, awaiting reply).

Every dispatch is written as an intent first (the message document in state queued), then published;
a redelivered event finds the document and republishes (the notifier's idempotency absorbs it).
Releases and fallbacks record their decision on the source document before dispatching, so a
crash in between replays the same decision instead of deciding twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from schemas.common import Channel, NotificationStatus, PurposeClass, Stage
from schemas.dispatch import MessageContext
from services.router.policy import Planned, Recent

PENDING_STATES = ("held",)
OPEN_STATES = ("queued", "sent", "delivered", "read")


@dataclass(frozen=True)
class Routed:
    """A planned message as stored, with the router's bookkeeping."""

    planned: Planned
    partition: int
    to: str | None
    preference_version: int
    created_at: datetime
    reply_by: datetime | None = None
    next_id: str | None = None  # the message this one was released as, or fell back to
    follow_ups: int = 0
    tried: tuple[Channel, ...] = field(default_factory=tuple)

    @property
    def id(self) -> str:
        """The notification id."""
        return self.planned.notification_id


def _to_doc(r: Routed) -> dict[str, Any]:
    p = r.planned
    doc = asdict(p)
    doc.pop("notification_id")
    doc.update(
        _id=p.notification_id,
        stage=p.stage.value,
        purpose_class=p.purpose_class.value,
        channel=p.channel.value if p.channel else None,
        state=p.state.value,
        reasons=list(p.reasons),
        context=p.context.model_dump(mode="json"),
        partition=r.partition,
        to=r.to,
        preference_version=r.preference_version,
        created_at=r.created_at,
        reply_by=r.reply_by,
        next_id=r.next_id,
        follow_ups=r.follow_ups,
        tried=[c.value for c in r.tried],
    )
    return doc


def _from_doc(d: dict[str, Any]) -> Routed:
    planned = Planned(
        notification_id=d["_id"],
        ats_event_id=d["ats_event_id"],
        purpose_key=d["purpose_key"],
        candidate_id=d["candidate_id"],
        application_id=d.get("application_id"),
        interview_id=d.get("interview_id"),
        stage=Stage(d["stage"]),
        purpose_class=PurposeClass(d["purpose_class"]),
        template=d["template"],
        attempt=d["attempt"],
        channel=Channel(d["channel"]) if d.get("channel") else None,
        state=NotificationStatus(d["state"]),
        due_at=d.get("due_at"),
        hold_kind=d.get("hold_kind"),
        reasons=tuple(d.get("reasons", ())),
        essential=d["essential"],
        reply_expected=d["reply_expected"],
        language=d["language"],
        mode=d.get("mode"),
        voicemail=d.get("voicemail", True),
        context=MessageContext.model_validate(d["context"]),
        event_time=d["event_time"],
    )
    return Routed(
        planned=planned,
        partition=d["partition"],
        to=d.get("to"),
        preference_version=d.get("preference_version", 0),
        created_at=d["created_at"],
        reply_by=d.get("reply_by"),
        next_id=d.get("next_id"),
        follow_ups=d.get("follow_ups", 0),
        tried=tuple(Channel(c) for c in d.get("tried", ())),
    )


class RouterStore(Protocol):
    """Persistence of routed messages."""

    async def insert(self, routed: Sequence[Routed]) -> dict[str, Routed]: ...
    async def get_many(self, ids: Iterable[str]) -> dict[str, Routed]: ...
    async def set_state(self, ids: Iterable[str], state: NotificationStatus, reason: str | None = None) -> None: ...
    async def record_next(self, routed_id: str, from_states: Sequence[str], next_id: str, state: str) -> bool: ...
    async def record_release(self, held: Routed, target: Routed) -> bool: ...
    async def finish_release(self, held: Routed, target: Routed) -> None: ...
    async def update_hold(self, target: Routed) -> None: ...
    async def reminders_of(self, candidate_id: str, interview_id: str) -> list[Routed]: ...
    async def pending_of(self, candidate_id: str) -> list[Routed]: ...
    async def candidates_with_pending(self, partitions: Iterable[int]) -> set[str]: ...
    async def count_held(self, partitions: Iterable[int]) -> dict[str, int]: ...
    async def due(self, partitions: Iterable[int], now: datetime, limit: int) -> list[Routed]: ...
    async def apply_statuses(self, changes: Sequence[tuple[str, NotificationStatus]]) -> None: ...
    async def recent(self, candidate_ids: Iterable[str], now: datetime) -> dict[str, Recent]: ...
    async def interview_sequences(self, interview_ids: Iterable[str]) -> dict[str, int]: ...
    async def erase(self, candidate_id: str) -> None: ...
    async def save_interview_sequences(self, sequences: dict[str, int]) -> None: ...


class MongoRouterStore:
    """RouterStore on MongoDB/FerretDB (collections: routed, interviews)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._routed = self._db["routed"]
        self._interviews = self._db["interviews"]

    async def ensure_indexes(self) -> None:
        """Indexes for the timer scan, per-candidate lookups and caps."""
        await self._routed.create_index([("state", 1), ("partition", 1), ("due_at", 1)])
        await self._routed.create_index([("candidate_id", 1), ("state", 1)])
        await self._routed.create_index([("reply_by", 1)])
        await self._interviews.create_index([("interview_id", 1)])

    async def insert(self, routed: Sequence[Routed]) -> dict[str, Routed]:
        """Insert new messages; return the ones that already existed (as stored), by id."""
        if not routed:
            return {}
        try:
            await self._routed.insert_many([_to_doc(r) for r in routed], ordered=False)
            return {}
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != 11000 for e in errors):
                raise
            dup_ids = {routed[e["index"]].id for e in errors}
        return await self.get_many(dup_ids)

    async def get_many(self, ids: Iterable[str]) -> dict[str, Routed]:
        """Stored messages by id."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        return {d["_id"]: _from_doc(d) async for d in self._routed.find({"_id": {"$in": wanted}})}

    async def set_state(self, ids: Iterable[str], state: NotificationStatus, reason: str | None = None) -> None:
        """Move messages to a state (optionally adding a reason)."""
        update: dict[str, Any] = {"$set": {"state": state.value}}
        if reason:
            update["$push"] = {"reasons": reason}
        await self._routed.update_many({"_id": {"$in": list(ids)}}, update)

    async def record_next(self, routed_id: str, from_states: Sequence[str], next_id: str, state: str) -> bool:
        """Record the decision taken for a message, once: False if it was already taken."""
        result = await self._routed.update_one(
            {"_id": routed_id, "state": {"$in": list(from_states)}, "next_id": None},
            {"$set": {"next_id": next_id, "state": state}},
        )
        return result.modified_count == 1

    async def record_release(self, held: Routed, target: Routed) -> bool:
        """Step 1 of a release: note what a held message becomes, once (False: already decided)."""
        update: dict[str, Any] = {"next_id": target.id}
        if target.id == held.id:
            doc = _to_doc(target)
            update.update(
                {
                    k: doc[k]
                    for k in (
                        "channel",
                        "template",
                        "reasons",
                        "mode",
                        "language",
                        "voicemail",
                        "preference_version",
                        "reply_by",
                    )
                }
            )
        result = await self._routed.update_one({"_id": held.id, "state": "held", "next_id": None}, {"$set": update})
        return result.modified_count == 1

    async def finish_release(self, held: Routed, target: Routed) -> None:
        """Step 3 of a release, after the dispatch was acknowledged."""
        if target.id == held.id:
            await self._routed.update_one(
                {"_id": held.id, "state": "held"}, {"$set": {"state": target.planned.state.value, "next_id": None}}
            )
        else:
            await self._routed.update_one({"_id": held.id, "state": "held"}, {"$set": {"state": "cancelled"}})

    async def update_hold(self, target: Routed) -> None:
        """A held message stays held, with a new time or reason."""
        p = target.planned
        await self._routed.update_one(
            {"_id": target.id, "state": "held", "next_id": None},
            {
                "$set": {
                    "due_at": p.due_at,
                    "hold_kind": p.hold_kind,
                    "reasons": list(p.reasons),
                    "preference_version": target.preference_version,
                }
            },
        )

    async def reminders_of(self, candidate_id: str, interview_id: str) -> list[Routed]:
        """Pending reminders of an interview."""
        cursor = self._routed.find(
            {
                "candidate_id": candidate_id,
                "interview_id": interview_id,
                "state": "held",
                "template": "interview_reminder",
            }
        )
        return [_from_doc(d) async for d in cursor]

    async def pending_of(self, candidate_id: str) -> list[Routed]:
        """Messages of a candidate that are not sent yet (held or scheduled)."""
        return [_from_doc(d) async for d in self._routed.find({"candidate_id": candidate_id, "state": "held"})]

    async def candidates_with_pending(self, partitions: Iterable[int]) -> set[str]:
        """Candidates in these partitions with held or scheduled messages."""
        cursor = self._routed.find({"state": "held", "partition": {"$in": list(partitions)}}, {"candidate_id": 1})
        return {d["candidate_id"] async for d in cursor}

    async def count_held(self, partitions: Iterable[int]) -> dict[str, int]:
        """Held and scheduled messages in these partitions, per hold kind (for the gauge)."""
        parts = list(partitions)
        if not parts:
            return {}
        pipeline: list[dict[str, Any]] = [
            {"$match": {"state": "held", "partition": {"$in": parts}}},
            {"$group": {"_id": "$hold_kind", "n": {"$sum": 1}}},
        ]
        cursor = await self._routed.aggregate(pipeline)
        return {str(d["_id"] or "held"): int(d["n"]) async for d in cursor}

    async def due(self, partitions: Iterable[int], now: datetime, limit: int) -> list[Routed]:
        """Held messages whose time has come, and open messages whose reply window has passed."""
        parts = list(partitions)
        held = self._routed.find({"state": "held", "partition": {"$in": parts}, "due_at": {"$lte": now}}).limit(limit)
        out = [_from_doc(d) async for d in held]
        silent = self._routed.find(
            {
                "state": {"$in": list(OPEN_STATES)},
                "partition": {"$in": parts},
                "reply_by": {"$lte": now},
                "next_id": None,
            }
        ).limit(limit)
        out.extend([_from_doc(d) async for d in silent])
        return out

    async def apply_statuses(self, changes: Sequence[tuple[str, NotificationStatus]]) -> None:
        """Record the notifier's states on the router's copies (forward only is checked by the caller).

        One update_many per state, never a bulk of single updates: FerretDB holds a pooled connection per
        statement of a command, and a bulk of 100 deadlocks its pool.
        """
        by_state: dict[NotificationStatus, list[str]] = {}
        for nid, st in changes:
            by_state.setdefault(st, []).append(nid)
        for st, ids in by_state.items():
            await self._routed.update_many({"_id": {"$in": ids}, "next_id": None}, {"$set": {"state": st.value}})

    async def recent(self, candidate_ids: Iterable[str], now: datetime) -> dict[str, Recent]:
        """Non-essential messages that went out per candidate in the last day and week."""
        ids = list(set(candidate_ids))
        if not ids:
            return {}
        week_ago, day_ago = now - timedelta(days=7), now - timedelta(days=1)
        cursor = self._routed.find(
            {
                "candidate_id": {"$in": ids},
                "essential": False,
                "created_at": {"$gte": week_ago},
                "state": {"$in": ["queued", "sent", "delivered", "read", "replied"]},
            },
            {"candidate_id": 1, "created_at": 1},
        )
        counts: dict[str, list[int]] = {}
        async for d in cursor:
            c = counts.setdefault(d["candidate_id"], [0, 0])
            c[1] += 1
            c[0] += d["created_at"] >= day_ago
        return {cid: Recent(last_day=c[0], last_week=c[1]) for cid, c in counts.items()}

    async def interview_sequences(self, interview_ids: Iterable[str]) -> dict[str, int]:
        """The highest sequence seen per interview."""
        ids = list(set(interview_ids))
        if not ids:
            return {}
        out: dict[str, int] = {}
        async for d in self._interviews.find({"interview_id": {"$in": ids}}, {"interview_id": 1, "sequence": 1}):
            out[d["interview_id"]] = max(out.get(d["interview_id"], -1), d["sequence"])
        return out

    async def save_interview_sequences(self, sequences: dict[str, int]) -> None:
        """Remember the sequences seen (append-only: one batched insert, the maximum is taken on read)."""
        docs = [{"_id": f"{iv}:{seq:08d}", "interview_id": iv, "sequence": seq} for iv, seq in sequences.items()]
        if docs:
            try:
                await self._interviews.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if any(e.get("code") != 11000 for e in exc.details.get("writeErrors", [])):
                    raise

    async def erase(self, candidate_id: str) -> None:
        """Delete every record of a candidate (after the preference service's tombstone)."""
        await self._routed.delete_many({"candidate_id": candidate_id})
