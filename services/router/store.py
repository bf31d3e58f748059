"""The only module of the router that touches MongoDB: decisions, and the messages still waiting.

routed   - every decision, as versions before 2026-12-05 stored it (read, no longer written): a decision that
           went straight out is recorded by its command on dispatch.<channel> (see insert)
pending  - the small working set: held and scheduled messages, and messages awaiting a reply. Releases
           record their decision here before dispatching, so a crash replays it instead of deciding twice
markers  - what a sent message led to (fallback, follow-up, recruiter): an insert per decision, whose
           unique key makes "decide once" atomic
caplog   - non-essential messages of candidates with a frequency cap
interviews - the highest sequence seen per interview (out-of-order ATS events)

Why the split: FerretDB 1.24's SQLite backend pushes down only `_id` equality (and, in the local
build, `_id: {$in: [...]}`: services/common/mongo.py find_by_ids); every other query scans the
collection. The big collection is therefore only inserted and read by _id; scans and updates touch
the small ones. Even the small one is scanned as rarely as possible: the timer scan also yields the
next time anything falls due, and until then (or a write of this instance brings it forward, or the
backstop interval passes) `due` answers without reading the database.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from schemas.common import Channel, NotificationStatus, PurposeClass, Stage
from schemas.dispatch import MessageContext
from services.common.mongo import find_by_ids, insert_new
from services.router.policy import Planned, Recent

PENDING_STATES = ("held",)
# What deciding a held message again may change (its identity, intent and time stay).
_DECIDED = (
    "channel",
    "to",
    "template",
    "reasons",
    "mode",
    "language",
    "voicemail",
    "not_honoured",
    "preference_version",
)
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
    # Shallow on purpose: asdict() deep-copies the context model, a measurable share of the router's CPU.
    doc = {f.name: getattr(p, f.name) for f in fields(p) if f.name != "notification_id"}
    doc.update(
        _id=p.notification_id,
        stage=p.stage.value,
        purpose_class=p.purpose_class.value,
        channel=p.channel.value if p.channel else None,
        not_honoured=p.not_honoured.value if p.not_honoured else None,
        state=p.state.value,
        reasons=list(p.reasons),
        # One string: FerretDB converts every field of a nested document (~1 ms of its CPU per 3 KB against
        # ~0.18 ms for the same as a string) and nothing queries inside a message's context.
        context=p.context.model_dump_json(exclude_defaults=True),
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
        context=(
            MessageContext.model_validate_json(d["context"])
            if isinstance(d["context"], str)
            else MessageContext.model_validate(d["context"])  # stored before the context was one string
        ),
        event_time=d["event_time"],
        not_honoured=Channel(d["not_honoured"]) if d.get("not_honoured") else None,
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
    async def next_of(self, routed_id: str) -> str | None: ...
    async def set_state(self, ids: Iterable[str], state: NotificationStatus, reason: str | None = None) -> None: ...
    async def record_next(self, routed_id: str, from_states: Sequence[str], next_id: str, state: str) -> bool: ...
    async def record_release(self, held: Routed, target: Routed) -> bool: ...
    async def finish_release(self, held: Routed, target: Routed) -> None: ...
    async def update_hold(self, target: Routed) -> None: ...
    async def about_interview(self, candidate_id: str, interview_id: str) -> list[Routed]: ...
    async def pending_of(self, candidate_id: str) -> list[Routed]: ...
    async def candidates_with_pending(self, partitions: Iterable[int]) -> set[str]: ...
    async def count_held(self, partitions: Iterable[int]) -> dict[str, int]: ...
    async def due(self, partitions: Iterable[int], now: datetime, limit: int) -> list[Routed]: ...
    def forget_timers(self) -> None: ...
    async def apply_statuses(self, changes: Sequence[tuple[str, NotificationStatus]]) -> None: ...
    async def recent(self, candidate_ids: Iterable[str], now: datetime) -> dict[str, Recent]: ...
    async def interview_sequences(self, interview_ids: Iterable[str]) -> dict[str, int]: ...
    async def erase(self, candidate_id: str) -> None: ...
    async def save_interview_sequences(self, sequences: dict[str, int]) -> None: ...
    async def record_sends(self, routed: Sequence[Routed]) -> None: ...


@dataclass
class TimerScan:
    """What one scan of the working set found."""

    due: list[str] = field(default_factory=list)
    held: dict[str, int] = field(default_factory=dict)
    held_candidates: set[str] = field(default_factory=set)


class TimerHint:
    """When the working set next needs a look: the earliest due time known, or the backstop interval.

    Every write of this instance that adds or moves a time brings the hint forward; a scan resets it and
    brings it forward to the earliest future time it saw. The backstop bounds what a missed write (or a
    clock step) could delay.
    """

    def __init__(self, backstop_s: float) -> None:
        self._backstop_s = backstop_s
        self._wake: datetime | None = None
        self._parts: list[int] | None = None
        self._scanned_at = float("-inf")

    def bring_forward(self, *times: datetime | None) -> None:
        """Something falls due at these times (None: no time)."""
        for at in times:
            if at is not None and (self._wake is None or at < self._wake):
                self._wake = at

    def should_scan(self, parts: list[int], now: datetime) -> bool:
        """True when something may be due, the partitions changed, or the backstop passed."""
        return (
            parts != self._parts
            or (self._wake is not None and self._wake <= now)
            or time.monotonic() - self._scanned_at >= self._backstop_s
        )

    def scanning(self, parts: list[int]) -> None:
        """A scan starts: it will report every future time it sees."""
        self._parts, self._wake, self._scanned_at = list(parts), None, time.monotonic()

    def forget(self) -> None:
        """Scan at the next chance."""
        self._parts = None


class MongoRouterStore:
    """RouterStore on MongoDB/FerretDB."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str, timer_backstop_s: float = 30.0) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._timers = TimerHint(timer_backstop_s)
        # candidate -> ids of their working-set documents (filled by the assignment scan and by inserts):
        # per-candidate reads are point reads, because any other query is a scan on FerretDB.
        self._ids_of: dict[str, set[str]] = {}
        self._routed = self._db["routed"]
        self._pending = self._db["pending"]
        self._markers = self._db["markers"]
        self._caplog = self._db["caplog"]
        self._interviews = self._db["interviews"]

    async def ensure_indexes(self) -> None:
        """Indexes MongoDB uses for the timer scan and per-candidate lookups."""
        await self._pending.create_index([("partition", 1), ("due_at", 1)])
        await self._pending.create_index([("candidate_id", 1)])
        await self._caplog.create_index([("candidate_id", 1)])

    async def insert(self, routed: Sequence[Routed]) -> dict[str, Routed]:
        """Keep new decisions that wait (held, scheduled, awaiting a reply); return those kept already, as stored.

        A decision that went straight out is not stored: its command on dispatch.<channel> is the record, read
        back when it fails (services/router/dispatch_log.py), and taken again after a crash it names the same
        message, which the notifier sends once.
        """
        waiting = [r for r in routed if _waits(r)]
        taken = set(await insert_new(self._pending, [_to_doc(r) for r in waiting]))
        for i, r in enumerate(waiting):
            if i not in taken:
                self._timers.bring_forward(r.planned.due_at, r.reply_by)
                self._ids_of.setdefault(r.planned.candidate_id, set()).add(r.id)
        return await self.get_many(waiting[i].id for i in taken)

    async def get_many(self, ids: Iterable[str]) -> dict[str, Routed]:
        """Stored messages by id (batched point reads), with the decision taken for them.

        `routed` holds the decisions of versions that stored every one; it is read until those have ended.
        """
        wanted = list(set(ids))
        docs = await find_by_ids(self._pending, wanted)
        docs.update(await find_by_ids(self._routed, [i for i in wanted if i not in docs]))
        markers = await find_by_ids(self._markers, list(docs))
        for i, marker in markers.items():
            docs[i]["next_id"] = marker["next_id"]
        return {i: _from_doc(d) for i, d in docs.items()}

    async def next_of(self, routed_id: str) -> str | None:
        """What a message led to (a fallback, a follow-up, a recruiter), if recorded."""
        marker = (await find_by_ids(self._markers, [routed_id])).get(routed_id)
        return marker["next_id"] if marker else None

    async def set_state(self, ids: Iterable[str], state: NotificationStatus, reason: str | None = None) -> None:
        """End waiting messages (cancelled): they leave the working set."""
        await self._delete_where(ids, lambda _: True)

    async def record_next(self, routed_id: str, from_states: Sequence[str], next_id: str, state: str) -> bool:
        """Record what a message led to, once (False: another decision was recorded first)."""
        taken = await insert_new(self._markers, [{"_id": routed_id, "next_id": next_id}])
        if not taken:
            await self._delete_where([routed_id], lambda d: d["state"] != "held")
        return not taken

    async def record_release(self, held: Routed, target: Routed) -> bool:
        """Step 1 of a release: note what a held message becomes, once (False: already decided)."""
        update: dict[str, Any] = {"next_id": target.id}
        self._timers.bring_forward(target.reply_by)
        if target.id == held.id:
            doc = _to_doc(target)
            update.update({k: doc[k] for k in (*_DECIDED, "reply_by")})
        result = await self._pending.update_one({"_id": held.id, "state": "held", "next_id": None}, {"$set": update})
        return result.modified_count == 1

    async def finish_release(self, held: Routed, target: Routed) -> None:
        """Step 3 of a release, after the dispatch was acknowledged: stay only if awaiting a reply."""
        if target.id == held.id and target.reply_by is not None:
            await self._pending.update_one(
                {"_id": held.id, "state": "held"}, {"$set": {"state": target.planned.state.value, "next_id": None}}
            )
        else:
            await self._delete_where([held.id], lambda d: d["state"] == "held")

    async def update_hold(self, target: Routed) -> None:
        """A held message stays held, with a new time or reason (or the channel it would take now)."""
        p = target.planned
        self._timers.bring_forward(p.due_at)
        doc = _to_doc(target)
        await self._pending.update_one(
            {"_id": target.id, "state": "held", "next_id": None},
            {"$set": {k: doc[k] for k in (*_DECIDED, "due_at", "hold_kind")}},
        )

    async def about_interview(self, candidate_id: str, interview_id: str) -> list[Routed]:
        """Everything still waiting about an interview: held invitation, scheduled reminders, reply watches."""
        return [
            _from_doc(d)
            for d in await self._pending_docs(candidate_id)
            if d.get("interview_id") == interview_id and (d["state"] == "held" or d["state"] in OPEN_STATES)
        ]

    async def pending_of(self, candidate_id: str) -> list[Routed]:
        """Messages of a candidate that are not sent yet (held or scheduled)."""
        return [_from_doc(d) for d in await self._pending_docs(candidate_id) if d["state"] == "held"]

    async def candidates_with_pending(self, partitions: Iterable[int]) -> set[str]:
        """Candidates in these partitions with held or scheduled messages (and every working-set id, learnt)."""
        self._ids_of.clear()  # the scan learns them again, for the partitions owned now
        return (await self._scan(list(partitions), None)).held_candidates

    async def count_held(self, partitions: Iterable[int]) -> dict[str, int]:
        """Held and scheduled messages in these partitions, per hold kind (for the gauge)."""
        return (await self._scan(list(partitions), None)).held

    async def due(self, partitions: Iterable[int], now: datetime, limit: int) -> list[Routed]:
        """Held messages whose time has come, and open messages whose reply window has passed."""
        parts = list(partitions)
        if not self._timers.should_scan(parts, now):
            return []
        ids = (await self._scan(parts, now)).due[:limit]
        docs = await find_by_ids(self._pending, ids)
        return [_from_doc(docs[i]) for i in ids if i in docs]

    def forget_timers(self) -> None:
        """Partitions moved: the next `due` scans, whatever the hint says."""
        self._timers.forget()

    async def _scan(self, parts: list[int], now: datetime | None) -> TimerScan:
        """One pass over the working set: what is due, what falls due next, how many are held."""
        self._timers.scanning(parts)
        scan = TimerScan()
        projection = {"candidate_id": 1, "state": 1, "due_at": 1, "reply_by": 1, "next_id": 1, "hold_kind": 1}
        async for d in self._pending.find({"partition": {"$in": parts}}, projection):
            self._ids_of.setdefault(d["candidate_id"], set()).add(d["_id"])  # heals what an insert elsewhere added
            if d["state"] == "held":
                kind = str(d.get("hold_kind") or "held")
                scan.held[kind] = scan.held.get(kind, 0) + 1
                scan.held_candidates.add(d["candidate_id"])
                at = d.get("due_at")
            elif d["state"] in OPEN_STATES and d.get("next_id") is None:
                at = d.get("reply_by")
            else:
                continue
            if at is None:
                continue
            # Due ones too: if their release fails, the next tick looks again.
            self._timers.bring_forward(at)
            if now is not None and at <= now:
                scan.due.append(d["_id"])
        return scan

    async def apply_statuses(self, changes: Sequence[tuple[str, NotificationStatus]]) -> None:
        """A reply ends the silence watch of the message replied to."""
        replied = [nid for nid, st in changes if st is NotificationStatus.REPLIED]
        if replied:
            await self._delete_where(replied, lambda d: d["state"] != "held")

    async def record_sends(self, routed: Sequence[Routed]) -> None:
        """Remember non-essential messages of candidates with a frequency cap."""
        await insert_new(
            self._caplog, [{"_id": r.id, "candidate_id": r.planned.candidate_id, "at": r.created_at} for r in routed]
        )

    async def recent(self, candidate_ids: Iterable[str], now: datetime) -> dict[str, Recent]:
        """Non-essential messages that went out per candidate in the last day and week."""
        ids = list(set(candidate_ids))
        if not ids:
            return {}
        week_ago, day_ago = now - timedelta(days=7), now - timedelta(days=1)
        counts: dict[str, list[int]] = {}
        async for d in self._caplog.find({"candidate_id": {"$in": ids}, "at": {"$gte": week_ago}}):
            c = counts.setdefault(d["candidate_id"], [0, 0])
            c[1] += 1
            c[0] += d["at"] >= day_ago
        return {cid: Recent(last_day=c[0], last_week=c[1]) for cid, c in counts.items()}

    async def interview_sequences(self, interview_ids: Iterable[str]) -> dict[str, int]:
        """The highest sequence seen per interview (batched point reads)."""
        docs = await find_by_ids(self._interviews, interview_ids)
        return {i: d["sequence"] for i, d in docs.items()}

    async def save_interview_sequences(self, sequences: dict[str, int]) -> None:
        """Remember the newest sequence per interview (an update only when a reschedule raises it)."""
        known = await self.interview_sequences(sequences)
        await insert_new(
            self._interviews, [{"_id": iv, "sequence": s} for iv, s in sequences.items() if iv not in known]
        )
        for iv, seq in sequences.items():
            if iv in known and seq > known[iv]:
                await self._interviews.update_one({"_id": iv}, {"$max": {"sequence": seq}})

    async def erase(self, candidate_id: str) -> None:
        """Delete every record of a candidate (after the preference service's tombstone; rare, so scans)."""
        for coll in (self._routed, self._pending, self._caplog):
            await coll.delete_many({"candidate_id": candidate_id})
        self._ids_of.pop(candidate_id, None)

    async def _delete_where(self, ids: Iterable[str], keep_unless: Callable[[dict[str, Any]], bool]) -> None:
        """Delete these working-set documents where the condition holds: read by _id, delete by _id.

        FerretDB scans the whole collection for a delete whose filter has anything beside `_id` (or
        `_id: {$in}`, which our build pushes down): ~280 ms at 10,000 documents against ~1.5 ms (measured).
        Safe without the filter's atomicity: releases and fallbacks hold the candidate's lock, and the one
        unlocked caller (a reply) deletes only non-held documents, which never turn back into held ones.
        """
        docs = await find_by_ids(self._pending, ids, {"state": 1})
        doomed = [i for i, d in docs.items() if keep_unless(d)]
        if doomed:
            await self._pending.delete_many({"_id": {"$in": doomed}})

    async def _pending_docs(self, candidate_id: str) -> list[dict[str, Any]]:
        """A candidate's working-set documents, by point reads of the ids this instance knows of."""
        ids = self._ids_of.get(candidate_id, set())
        wanted = list(ids)  # one snapshot: an insert may add to the set while the reads are awaited
        docs = await find_by_ids(self._pending, wanted)
        for i in wanted:
            if i not in docs:
                ids.discard(i)  # gone (released, replied, cancelled)
        return [docs[i] for i in wanted if i in docs]


def _waits(r: Routed) -> bool:
    return r.planned.state is NotificationStatus.HELD or r.reply_by is not None
