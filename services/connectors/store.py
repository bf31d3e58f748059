"""The only module of the connectors that touches MongoDB; every read and write is by `_id`.

FerretDB pushes down only `_id` equality, so nothing here scans.

connector_deliveries - one document per ATS event taken: _id "<connection>/<ATS event id>"; inserted after
                       the event is on ats.events, so a crash before it makes the redelivery produce again
                       (the same CloudEvent ids: a duplicate downstream, where ids dedupe)
connector_links      - our candidate id -> the connection and the ATS's ids a note needs (notifications.status
                       carries only ours); the latest webhook wins
connector_notes      - one document per (notification id, state) written back: the idempotency of notes
connector_note_tries - a note key about to be sent to the ATS: the markers of the notes it went out in, kept
                       until the key is marked written (what a restart looks for in the ATS's note list)
connector_interviews - "<connection>/<interview id>" -> the interview as last told to the pipeline (application,
                       the ATS's candidate id, times, place; no contact data): a later change is a reschedule,
                       a deletion webhook that names only the id becomes a cancellation
connector_cursors    - "<connection>/<what is polled>" -> how far a poller has read (survives restarts)
connector_errors     - what failed and why (fetch, write-back, unmapped stage): no contact data, ids only
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient

from services.common.mongo import insert_new, put_each
from services.connectors.adapters import InterviewFacts, KnownInterview, NoteTarget


@dataclass(frozen=True)
class Link:
    """Where our candidate lives in an ATS."""

    candidate_id: str
    connection: str
    target: NoteTarget


@dataclass(frozen=True)
class ErrorRecord:
    """A failure an operator can act on (ids and reason codes only)."""

    kind: str  # fetch_failed, writeback_failed, unmapped_stage
    connection: str
    reason: str
    ref: str  # the ATS event id or "<notification id>:<state>"
    at: datetime


class ConnectorStore(Protocol):
    """What the service needs to remember."""

    async def seen(self, connection: str, event_ids: Sequence[str]) -> set[str]:
        """The ATS event ids of this connection already taken."""
        ...

    async def taken(self, connection: str, event_ids: Sequence[str], at: datetime) -> None:
        """Remember ATS events as taken (after they are on ats.events)."""
        ...

    async def link(self, links: Sequence[Link]) -> None:
        """Remember where candidates live in their ATS."""
        ...

    async def links(self, candidate_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these candidates that exist."""
        ...

    async def written(self, keys: Sequence[str]) -> set[str]:
        """The note keys (notification id:state) already written back."""
        ...

    async def mark_written(self, keys: Sequence[str], at: datetime) -> None:
        """Remember note keys as written."""
        ...

    async def attempt(self, keys: Sequence[str], marker: str, at: datetime) -> None:
        """Remember that the note with this marker, carrying these keys, is about to go to the ATS."""
        ...

    async def attempts(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """The markers of the notes these keys went out in that are not marked written yet (by key)."""
        ...

    async def error(self, record: ErrorRecord) -> None:
        """Keep an error record."""
        ...

    async def remember_interviews(self, interviews: Sequence[KnownInterview]) -> None:
        """Remember interviews as told to the pipeline (the latest wins)."""
        ...

    async def known_interviews(self, connection: str, interview_ids: Iterable[str]) -> dict[str, KnownInterview]:
        """The remembered interviews of this connection among these ids."""
        ...

    async def cursor(self, key: str) -> str | None:
        """How far the poller named `key` has read (the ATS's own timestamp), if it ever did."""
        ...

    async def move_cursor(self, key: str, value: str) -> None:
        """Remember how far the poller named `key` has read."""
        ...


class MongoConnectorStore:
    """ConnectorStore on MongoDB (FerretDB locally)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        db = client[database]
        self._deliveries = db["connector_deliveries"]
        self._links = db["connector_links"]
        self._notes = db["connector_notes"]
        self._errors = db["connector_errors"]
        self._tries = db["connector_note_tries"]
        self._interviews = db["connector_interviews"]
        self._cursors = db["connector_cursors"]

    async def seen(self, connection: str, event_ids: Sequence[str]) -> set[str]:
        """The ATS event ids of this connection already taken."""
        keys = {f"{connection}/{e}": e for e in event_ids}
        found = self._deliveries.find({"_id": {"$in": list(keys)}}, {"_id": 1})
        return {keys[doc["_id"]] async for doc in found}

    async def taken(self, connection: str, event_ids: Sequence[str], at: datetime) -> None:
        """Remember ATS events as taken (an existing one is kept)."""
        await insert_new(self._deliveries, [{"_id": f"{connection}/{e}", "at": at} for e in event_ids])

    async def link(self, links: Sequence[Link]) -> None:
        """Remember where candidates live in their ATS (the latest webhook wins)."""
        for link in links:
            doc = {
                "connection": link.connection,
                "ats_candidate_id": link.target.candidate_id,
                "ats_application_id": link.target.application_id,
                "extra": dict(link.target.extra),
            }
            await self._links.update_one({"_id": link.candidate_id}, {"$set": doc}, upsert=True)

    async def links(self, candidate_ids: Iterable[str]) -> dict[str, Link]:
        """The links of these candidates that exist."""
        out: dict[str, Link] = {}
        async for doc in self._links.find({"_id": {"$in": sorted(set(candidate_ids))}}):
            target = NoteTarget(doc["ats_candidate_id"], doc.get("ats_application_id"), doc.get("extra") or {})
            out[doc["_id"]] = Link(doc["_id"], doc["connection"], target)
        return out

    async def written(self, keys: Sequence[str]) -> set[str]:
        """The note keys already written back."""
        return {doc["_id"] async for doc in self._notes.find({"_id": {"$in": list(keys)}}, {"_id": 1})}

    async def mark_written(self, keys: Sequence[str], at: datetime) -> None:
        """Remember note keys as written."""
        await insert_new(self._notes, [{"_id": k, "at": at} for k in keys])
        await self._tries.delete_many({"_id": {"$in": list(keys)}})  # written: nothing left to look for

    async def attempt(self, keys: Sequence[str], marker: str, at: datetime) -> None:
        """Add the marker to each key's attempts: new keys in one insert, a key tried before one update each.

        Not one bulk of updates: see services/common/mongo.py put_each (FerretDB's pool).
        """
        existing = await insert_new(self._tries, [{"_id": k, "markers": [marker], "at": at} for k in keys])
        for i in existing:
            await self._tries.update_one({"_id": keys[i]}, {"$addToSet": {"markers": marker}, "$set": {"at": at}})

    async def attempts(self, keys: Sequence[str]) -> dict[str, set[str]]:
        """The markers of the notes these keys went out in, for keys not marked written."""
        found = self._tries.find({"_id": {"$in": list(keys)}})
        return {doc["_id"]: set(doc.get("markers") or []) async for doc in found}

    async def error(self, record: ErrorRecord) -> None:
        """Keep an error record."""
        await self._errors.insert_one(
            {
                "kind": record.kind,
                "connection": record.connection,
                "reason": record.reason[:500],
                "ref": record.ref,
                "at": record.at,
            }
        )

    async def errors(self) -> list[ErrorRecord]:
        """Every error record (for operators and tests; the collection stays small)."""
        return [
            ErrorRecord(d["kind"], d["connection"], d["reason"], d["ref"], d["at"]) async for d in self._errors.find({})
        ]

    async def remember_interviews(self, interviews: Sequence[KnownInterview]) -> None:
        """Remember interviews as told to the pipeline (the latest wins; see put_each for why not one bulk)."""
        docs = []
        for known in interviews:
            iv = known.interview
            doc = {
                "application_id": known.application_id,
                "ats_candidate_id": known.ats_candidate_id,
                "start": iv.start,
                "end": iv.end,
                "location": iv.location,
                "video_link": iv.video_link,
                "sequence": iv.sequence,
                "cancelled": known.cancelled,
            }
            docs.append({"_id": f"{known.connection}/{iv.id}", **doc})
        await put_each(self._interviews, docs)

    async def known_interviews(self, connection: str, interview_ids: Iterable[str]) -> dict[str, KnownInterview]:
        """The remembered interviews of this connection among these ids."""
        keys = {f"{connection}/{i}": i for i in interview_ids}
        out: dict[str, KnownInterview] = {}
        async for d in self._interviews.find({"_id": {"$in": sorted(keys)}}):
            facts = InterviewFacts(
                keys[d["_id"]], _utc(d["start"]), _utc(d["end"]), d.get("location"), d.get("video_link"), d["sequence"]
            )
            out[facts.id] = KnownInterview(
                connection, d["application_id"], d["ats_candidate_id"], facts, d["cancelled"]
            )
        return out

    async def cursor(self, key: str) -> str | None:
        """How far the poller named `key` has read, if it ever did."""
        doc = await self._cursors.find_one({"_id": key})
        return str(doc["value"]) if doc else None

    async def move_cursor(self, key: str, value: str) -> None:
        """Remember how far the poller named `key` has read."""
        await self._cursors.update_one({"_id": key}, {"$set": {"value": value}}, upsert=True)


def _utc(at: datetime) -> datetime:
    """MongoDB hands back naive UTC datetimes."""
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
