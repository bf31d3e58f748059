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
connector_errors     - what failed and why (fetch, write-back, unmapped stage): no contact data, ids only
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient, UpdateOne

from services.common.mongo import insert_new
from services.connectors.adapters import NoteTarget


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


class MongoConnectorStore:
    """ConnectorStore on MongoDB (FerretDB locally)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        db = client[database]
        self._deliveries = db["connector_deliveries"]
        self._links = db["connector_links"]
        self._notes = db["connector_notes"]
        self._errors = db["connector_errors"]
        self._tries = db["connector_note_tries"]

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
        """Add the marker to each key's attempts (one command for all keys)."""
        if keys:
            updates = [
                UpdateOne({"_id": k}, {"$addToSet": {"markers": marker}, "$set": {"at": at}}, upsert=True) for k in keys
            ]
            await self._tries.bulk_write(updates, ordered=False)

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
