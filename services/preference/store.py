"""The only module of the preference service that touches MongoDB.

The source of truth is an append-only version log: each change is ONE insert of the document
`<candidate>:<version>` carrying the full new snapshot, what changed, and its outbox flag
(`published: false`). The unique _id makes that insert the compare-and-set of optimistic
concurrency: of two writers proposing the same next version, exactly one insert succeeds.

Why not a conditional update of one current document? FerretDB 1.24's SQLite backend evaluates
the filter and writes the document in separate steps, so `update_one({"version": v}, ...)` from
concurrent writers can all "succeed" (measured here: 30 winners, 9 applied; FerretDB issue #3040).
An insert's unique key is enforced by SQLite itself, on FerretDB as on MongoDB.

`preferences` keeps one cache document per candidate (latest snapshot, open applications,
retention clock) for batch reads and queries; anything that decides reads the log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
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
    async def insert_new_many(self, proposals: Sequence[Proposed], opened: dict[str, set[str]]) -> set[str]: ...
    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]: ...
    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool: ...
    async def finish_publication(self, candidate_id: str, version: int) -> bool: ...
    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]: ...
    async def history(self, candidate_id: str) -> list[HistoryEntry]: ...
    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> bool: ...
    async def suppressed(self, suppression_keys: Iterable[str]) -> set[str]: ...
    async def open_applications(self, candidate_ids: Iterable[str]) -> dict[str, set[str]]: ...
    async def track_applications(
        self, candidate_id: str, opened: set[str], closed: set[str], now: datetime
    ) -> None: ...
    async def ended_before(self, cutoff: datetime, limit: int) -> list[tuple[str, datetime]]: ...


def _version_doc(p: Proposed) -> dict[str, Any]:
    s = p.snapshot
    return {
        "_id": f"{s.candidate_id}:{s.version:010d}",
        "candidate_id": s.candidate_id,
        "version": s.version,
        "at": s.updated_at,
        "source": p.source.value,
        "summary": p.summary,
        "changes": p.changes,
        "snapshot": s.model_dump(mode="json"),
        "published": False,
    }


async def _insert_new(coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> list[int]:
    """Insert documents, keeping existing ones; the indexes of those that already existed."""
    if not docs:
        return []
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != 11000 for e in errors):
            raise
        return [e["index"] for e in errors]
    return []


class MongoPreferenceStore:
    """PreferenceStore on MongoDB/FerretDB (collections: preference_versions, preferences, suppressions)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._log = self._db["preference_versions"]
        self._current = self._db["preferences"]
        self._suppressions = self._db["suppressions"]

    async def ensure_indexes(self) -> None:
        """Indexes for the latest-version read, the relay and retention."""
        await self._log.create_index([("candidate_id", 1), ("version", -1)])
        await self._log.create_index([("published", 1), ("at", 1)])
        await self._current.create_index([("procedure_ended_at", 1)])

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None:
        """The latest snapshot in the log, or None."""
        cursor = self._log.find({"candidate_id": candidate_id}, {"snapshot": 1}).sort("version", -1).limit(1)
        async for doc in cursor:
            return PreferenceSnapshot.model_validate(doc["snapshot"])
        return None

    async def get_many(self, candidate_ids: Iterable[str]) -> dict[str, PreferenceSnapshot]:
        """Cached latest snapshots of several candidates in one round trip (may lag; decisions re-read)."""
        ids = list(set(candidate_ids))
        if not ids:
            return {}
        cursor = self._current.find({"_id": {"$in": ids}}, {"snapshot": 1})
        return {d["_id"]: PreferenceSnapshot.model_validate(d["snapshot"]) async for d in cursor}

    async def _append(self, proposed: Proposed) -> bool:
        try:
            await self._log.insert_one(_version_doc(proposed))
        except DuplicateKeyError:
            return False
        s = proposed.snapshot
        # The cache only moves forward; a racing older write loses to the upsert's duplicate key.
        with contextlib.suppress(DuplicateKeyError):
            await self._current.update_one(
                {"_id": s.candidate_id, "version": {"$lt": s.version}},
                {"$set": {"version": s.version, "snapshot": s.model_dump(mode="json"), "updated_at": s.updated_at}},
                upsert=True,
            )
        return True

    async def insert_new(self, proposed: Proposed) -> bool:
        """Store version 1 of a new candidate; False when the candidate already exists."""
        return await self._append(proposed)

    async def insert_new_many(self, proposals: Sequence[Proposed], opened: dict[str, set[str]]) -> set[str]:
        """Version 1 of many new candidates in two batched inserts; the ids actually created (others existed)."""
        if not proposals:
            return set()
        docs = [_version_doc(p) for p in proposals]
        taken = set(await _insert_new(self._log, docs))
        created = [p.snapshot for i, p in enumerate(proposals) if i not in taken]
        await _insert_new(
            self._current,
            [
                {
                    "_id": s.candidate_id,
                    "version": s.version,
                    "snapshot": s.model_dump(mode="json"),
                    "updated_at": s.updated_at,
                    "open_applications": sorted(opened.get(s.candidate_id, ())),
                    "procedure_ended_at": None,
                }
                for s in created
            ],
        )
        return {s.candidate_id for s in created}

    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]:
        """Mark these versions published in one statement; the candidates that have a newer version."""
        ids = [f"{cid}:{v:010d}" for cid, v in versions.items()]
        await self._log.update_many({"_id": {"$in": ids}, "published": False}, {"$set": {"published": True}})
        newer = self._log.find({"candidate_id": {"$in": list(versions)}}, {"candidate_id": 1, "version": 1})
        return {d["candidate_id"] async for d in newer if d["version"] > versions[d["candidate_id"]]}

    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool:
        """Store version expected+1 unless another writer stored it first (optimistic concurrency)."""
        assert proposed.snapshot.version == expected_version + 1
        return await self._append(proposed)

    async def finish_publication(self, candidate_id: str, version: int) -> bool:
        """After `version` is on the topic: mark it (and older ones) published.

        Returns False when a newer version exists, which may have reached the topic before this one:
        the caller then publishes the latest again so the compacted topic ends with the newest.
        """
        await self._log.update_many(
            {"candidate_id": candidate_id, "version": {"$lte": version}, "published": False},
            {"$set": {"published": True}},
        )
        newer = await self._log.find_one({"candidate_id": candidate_id, "version": {"$gt": version}}, {"_id": 1})
        return newer is None

    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]:
        """Candidates with versions not yet confirmed on the topic, stored before `older_than`."""
        cursor = self._log.find({"published": False, "at": {"$lt": older_than}}, {"candidate_id": 1}).limit(limit)
        return list(dict.fromkeys([d["candidate_id"] async for d in cursor]))

    async def history(self, candidate_id: str) -> list[HistoryEntry]:
        """Every recorded change, oldest first."""
        cursor = self._log.find({"candidate_id": candidate_id}, {"snapshot": 0}).sort("version", 1)
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
        """Delete the candidate's log and cache; keep only a keyed hash that suppresses re-creation."""
        await self._suppressions.update_one({"_id": suppression_key}, {"$set": {"at": at}}, upsert=True)
        deleted = await self._log.delete_many({"candidate_id": candidate_id})
        await self._current.delete_one({"_id": candidate_id})
        return deleted.deleted_count > 0

    async def suppressed(self, suppression_keys: Iterable[str]) -> set[str]:
        """Which of these keys belong to erased candidates."""
        keys = list(set(suppression_keys))
        if not keys:
            return set()
        return {d["_id"] async for d in self._suppressions.find({"_id": {"$in": keys}}, {"_id": 1})}

    async def open_applications(self, candidate_ids: Iterable[str]) -> dict[str, set[str]]:
        """The applications each candidate has open (for retention)."""
        ids = list(set(candidate_ids))
        cursor = self._current.find({"_id": {"$in": ids}}, {"open_applications": 1})
        return {d["_id"]: set(d.get("open_applications", [])) async for d in cursor}

    async def track_applications(self, candidate_id: str, opened: set[str], closed: set[str], now: datetime) -> None:
        """Open and close applications; the last one closing starts the retention clock."""
        for app in opened:
            await self._current.update_one(
                {"_id": candidate_id}, {"$addToSet": {"open_applications": app}, "$set": {"procedure_ended_at": None}}
            )
        for app in closed:
            await self._current.update_one({"_id": candidate_id}, {"$pull": {"open_applications": app}})
        if closed:
            await self._current.update_one(
                {"_id": candidate_id, "open_applications": {"$size": 0}}, {"$set": {"procedure_ended_at": now}}
            )

    async def ended_before(self, cutoff: datetime, limit: int) -> list[tuple[str, datetime]]:
        """Candidates whose last procedure ended before `cutoff`."""
        cursor = self._current.find({"procedure_ended_at": {"$lt": cutoff}}, {"procedure_ended_at": 1}).limit(limit)
        return [(d["_id"], d["procedure_ended_at"]) async for d in cursor]
