"""The only module of the preference service that touches MongoDB.

Each change is ONE single-document update that carries the new version and its outbox entry
(FerretDB 1.24 has no multi-document transactions). History is written idempotently keyed by
(candidate, version), from the outbox entry, by whoever publishes first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from schemas.common import ChangeSource
from schemas.preferences import PreferenceSnapshot
from services.preference.domain import Proposed


@dataclass(frozen=True)
class HistoryEntry:
    """One change of one candidate's preferences."""

    candidate_id: str
    version: int
    at: datetime
    source: ChangeSource
    summary: str
    changes: dict[str, Any]


class PreferenceStore(Protocol):
    """Persistence of current preferences, their history and erasure suppressions."""

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None: ...
    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, PreferenceSnapshot]: ...
    async def insert_new(self, proposed: Proposed) -> bool: ...
    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool: ...
    async def finish_publication(self, candidate_id: str, version: int) -> bool: ...
    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]: ...
    async def history(self, candidate_id: str) -> list[HistoryEntry]: ...
    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> bool: ...
    async def suppressed(self, suppression_keys: Iterable[str]) -> set[str]: ...


def _entry_doc(p: Proposed) -> dict[str, Any]:
    return {
        "version": p.snapshot.version,
        "at": p.snapshot.updated_at,
        "source": p.source.value,
        "summary": p.summary,
        "changes": p.changes,
    }


class MongoPreferenceStore:
    """PreferenceStore on MongoDB/FerretDB (collections: preferences, preference_history, suppressions)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._current = self._db["preferences"]
        self._history = self._db["preference_history"]
        self._suppressions = self._db["suppressions"]

    async def ensure_indexes(self) -> None:
        """Create the indexes the queries need (_id is the candidate id: unique by construction)."""
        await self._history.create_index([("candidate_id", 1), ("version", 1)])
        await self._current.create_index([("updated_at", 1)])

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None:
        """The current snapshot, or None."""
        doc = await self._current.find_one({"_id": candidate_id}, {"snapshot": 1})
        return PreferenceSnapshot.model_validate(doc["snapshot"]) if doc else None

    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, PreferenceSnapshot]:
        """Current snapshots of several candidates in one round trip."""
        ids = list(set(candidate_ids))
        if not ids:
            return {}
        cursor = self._current.find({"_id": {"$in": ids}}, {"snapshot": 1})
        return {d["_id"]: PreferenceSnapshot.model_validate(d["snapshot"]) async for d in cursor}

    async def insert_new(self, proposed: Proposed) -> bool:
        """Store version 1 of a new candidate; False when the candidate already exists."""
        s = proposed.snapshot
        try:
            await self._current.insert_one(
                {
                    "_id": s.candidate_id,
                    "version": s.version,
                    "snapshot": s.model_dump(mode="json"),
                    "outbox": [_entry_doc(proposed)],
                    "published_version": 0,
                    "created_at": s.updated_at,
                    "updated_at": s.updated_at,
                }
            )
        except DuplicateKeyError:
            return False
        return True

    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool:
        """Optimistic concurrency: store the new version only if nobody changed the document meanwhile."""
        s = proposed.snapshot
        result = await self._current.update_one(
            {"_id": s.candidate_id, "version": expected_version},
            {
                "$set": {"version": s.version, "snapshot": s.model_dump(mode="json"), "updated_at": s.updated_at},
                "$push": {"outbox": _entry_doc(proposed)},
            },
        )
        return result.modified_count == 1

    async def finish_publication(self, candidate_id: str, version: int) -> bool:
        """After `version` is on the topic: write its history, drop its outbox entries.

        Returns False when a newer version had been published before this one, so the topic may now
        end with an older snapshot and the caller must publish the current one again.
        """
        doc = await self._current.find_one({"_id": candidate_id}, {"outbox": 1, "published_version": 1})
        if doc is None:
            return True  # erased meanwhile; the tombstone follows
        entries = [e for e in doc.get("outbox", []) if e["version"] <= version]
        if entries:
            rows = [{"_id": f"{candidate_id}:{e['version']:010d}", "candidate_id": candidate_id, **e} for e in entries]
            try:
                await self._history.insert_many(rows, ordered=False)
            except BulkWriteError as exc:
                if any(err.get("code") != 11000 for err in exc.details.get("writeErrors", [])):
                    raise
            # $pullAll with the exact entries: FerretDB 1.24 ignores $pull with a query condition.
            await self._current.update_one({"_id": candidate_id}, {"$pullAll": {"outbox": entries}})
        moved = await self._current.update_one(
            {"_id": candidate_id, "published_version": {"$lt": version}}, {"$set": {"published_version": version}}
        )
        if moved.modified_count == 1:
            return True
        now = await self._current.find_one({"_id": candidate_id}, {"published_version": 1})
        return now is None or int(now.get("published_version", 0)) == version

    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]:
        """Candidates with changes not yet confirmed as published, last changed before `older_than`."""
        cursor = self._current.find(
            {"outbox.version": {"$exists": True}, "updated_at": {"$lt": older_than}}, {"_id": 1}
        ).limit(limit)
        return [d["_id"] async for d in cursor]

    async def history(self, candidate_id: str) -> list[HistoryEntry]:
        """Every recorded change, oldest first."""
        cursor = self._history.find({"candidate_id": candidate_id}).sort("version", 1)
        return [
            HistoryEntry(
                candidate_id=d["candidate_id"],
                version=d["version"],
                at=d["at"],
                source=ChangeSource(d["source"]),
                summary=d["summary"],
                changes=d["changes"],
            )
            async for d in cursor
        ]

    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> bool:
        """Delete the candidate's document and history; keep only a keyed hash that suppresses re-creation."""
        await self._suppressions.update_one({"_id": suppression_key}, {"$set": {"at": at}}, upsert=True)
        await self._history.delete_many({"candidate_id": candidate_id})
        deleted = await self._current.delete_one({"_id": candidate_id})
        return deleted.deleted_count == 1

    async def suppressed(self, suppression_keys: Iterable[str]) -> set[str]:
        """Which of these keys belong to erased candidates."""
        keys = list(set(suppression_keys))
        if not keys:
            return set()
        return {d["_id"] async for d in self._suppressions.find({"_id": {"$in": keys}}, {"_id": 1})}
