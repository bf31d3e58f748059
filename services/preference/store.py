"""The only module of the preference service that touches MongoDB.

The source of truth is an append-only version log: each change is ONE insert of the document
`<candidate>:<version>` carrying the full new snapshot and what changed. Its unique _id is the
compare-and-set of optimistic concurrency: of two writers proposing the same next version, exactly
one insert succeeds (an insert's unique key is enforced by SQLite itself, on FerretDB as on MongoDB).

Everything on the hot path is an insert or a point read by _id, because FerretDB 1.24's SQLite
backend pushes down nothing else: a conditional update is not atomic (30 concurrent winners, 9
applied; FerretDB issue #3040), and any update, delete or non-_id query scans the collection
(~30 ms per update at 10,000 documents, measured here). So:
- the latest version is found by probing `<candidate>:<v+1>` from a version hint held in memory;
- what is published is what `preferences.changed` holds: at start, stored versions above the topic's
  are the ones a crash left unpublished (tracked in memory from then on), so a publication costs no
  write (earlier releases inserted a confirmation per version into `preference_published`);
- applications open and close as inserted events; the hourly retention job scans them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from schemas.common import ChangeSource
from schemas.preferences import PreferenceSnapshot
from services.common.mongo import find_by_ids, insert_new
from services.preference.domain import Proposed
from services.preference.lifecycle import ApplicationEvent
from services.preference.verification_store import MongoVerificationStore


@dataclass(frozen=True)
class Erasure:
    """What an erasure did: whether there was anything to delete, and the version it stands at."""

    existed: bool
    version: int


@dataclass(frozen=True)
class Suppression:
    """What is kept of an erased candidate: no personal data, only when and at which version."""

    erased_at: datetime
    version: int
    renewed_at: datetime | None = None  # the deliberate way back: a new application with renewed consent

    def covers(self, event_time: datetime) -> bool:
        """An event of this time belongs to the erased past (or nobody has come back yet)."""
        return self.renewed_at is None or event_time < self.renewed_at


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
    """Persistence of preferences, their history, publication markers and erasure suppressions."""

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None: ...
    async def insert_new_many(self, proposals: Sequence[Proposed]) -> set[str]: ...
    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool: ...
    async def finish_publication(self, candidate_id: str, version: int) -> bool: ...
    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]: ...
    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]: ...
    def awaiting_publication(self, candidate_id: str, version: int) -> bool: ...
    def forget_unconfirmed(self, candidate_id: str, up_to: int) -> None: ...
    async def history(self, candidate_id: str) -> list[HistoryEntry]: ...
    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> Erasure: ...
    async def forget_applications(self, candidate_id: str) -> None: ...
    async def suppressions(self, suppression_keys: Iterable[str], fresh: bool = False) -> dict[str, Suppression]: ...
    async def renew(self, suppression_key: str, candidate_id: str, renewed_at: datetime, base: int) -> None: ...
    async def record_applications(self, events: Sequence[ApplicationEvent]) -> None: ...
    async def application_events(self) -> list[ApplicationEvent]: ...


def _vid(candidate_id: str, version: int) -> str:
    return f"{candidate_id}:{version:010d}"


def _version_doc(p: Proposed) -> dict[str, Any]:
    s = p.snapshot
    return {
        "_id": _vid(s.candidate_id, s.version),
        "candidate_id": s.candidate_id,
        "version": s.version,
        "at": s.updated_at,
        "source": p.source.value,
        "summary": p.summary,
        "changes": p.changes,
        # One string, not a nested document: FerretDB's cost grows with every field it converts (a
        # 3 KB nested document costs ~1 ms of its CPU to insert, the same as a string ~0.18 ms), and
        # nothing ever queries inside a snapshot. Read back by get(); older versions stored it nested.
        "snapshot": s.model_dump_json(),
    }


class MongoPreferenceStore:
    """PreferenceStore on MongoDB/FerretDB (preference_versions, applications, suppressions)."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], database: str) -> None:
        self._db: AsyncDatabase[dict[str, Any]] = client[database]
        self._log = self._db["preference_versions"]
        self._apps = self._db["applications"]
        self._suppressions = self._db["suppressions"]
        self._latest: dict[str, int] = {}  # version hints: a lower bound of each candidate's latest version
        self._unconfirmed: dict[str, datetime] = {}  # "<cid>:<v>" stored, publication not yet confirmed
        self._suppression_keys: set[str] = set()
        self._suppressions_loaded_at = float("-inf")

    async def ensure_indexes(self) -> None:
        """Indexes MongoDB uses for history and erasure (FerretDB keeps them but reads by _id only)."""
        await self._log.create_index([("candidate_id", 1), ("version", 1)])
        await self._apps.create_index([("candidate_id", 1)])

    async def load_unconfirmed(self, on_topic: Mapping[str, int]) -> int:
        """At start: versions stored above the newest on the topic (`on_topic`), which a crash left unpublished.

        One scan of the log; from then on they are tracked in memory.
        """
        async for d in self._log.find({}, {"candidate_id": 1, "version": 1, "at": 1, "base": 1}):
            if "base" in d:  # the version a re-created profile counts on from, not a version
                self._latest[d["candidate_id"]] = max(self._latest.get(d["candidate_id"], 0), d["base"])
                continue
            self._latest[d["candidate_id"]] = max(self._latest.get(d["candidate_id"], 0), d["version"])
            if d["version"] > on_topic.get(d["candidate_id"], 0):
                self._unconfirmed[d["_id"]] = d["at"]
        return len(self._unconfirmed)

    async def _doc(self, candidate_id: str, version: int) -> dict[str, Any] | None:
        return await self._log.find_one({"_id": _vid(candidate_id, version)})

    async def _base(self, candidate_id: str) -> int:
        """The version a profile re-created after an erasure counts on from (0: never erased and back)."""
        marker = await self._doc(candidate_id, 0)
        return int(marker["base"]) if marker is not None else 0

    async def latest_version(self, candidate_id: str) -> int:
        """The newest stored version (0: none), probing forward from the hint."""
        v = self._latest.get(candidate_id, 0)
        if v == 0:  # no hint: grow the step until a version is missing, then search back
            v = base = await self._base(candidate_id)
            hi = base + 1
            while await self._doc(candidate_id, hi) is not None:
                v, hi = hi, base + (hi - base) * 2
            while hi - v > 1:
                mid = (v + hi) // 2
                v, hi = (mid, hi) if await self._doc(candidate_id, mid) is not None else (v, mid)
        while await self._doc(candidate_id, v + 1) is not None:
            v += 1
        if v:
            self._latest[candidate_id] = v
        return v

    async def get(self, candidate_id: str) -> PreferenceSnapshot | None:
        """The latest snapshot in the log, or None."""
        v = await self.latest_version(candidate_id)
        doc = await self._doc(candidate_id, v) if v else None
        if doc is None:
            return None
        stored = doc["snapshot"]
        if isinstance(stored, str):
            return PreferenceSnapshot.model_validate_json(stored)
        return PreferenceSnapshot.model_validate(stored)

    def _stored(self, snapshots: Iterable[PreferenceSnapshot]) -> None:
        for s in snapshots:
            self._latest[s.candidate_id] = max(self._latest.get(s.candidate_id, 0), s.version)
            self._unconfirmed[_vid(s.candidate_id, s.version)] = s.updated_at

    async def insert_new_many(self, proposals: Sequence[Proposed]) -> set[str]:
        """Version 1 of many new candidates in one batched insert; the ids actually created."""
        taken = set(await insert_new(self._log, [_version_doc(p) for p in proposals]))
        created = [p.snapshot for i, p in enumerate(proposals) if i not in taken]
        self._stored(created)
        return {s.candidate_id for s in created}

    async def replace_if_version(self, expected_version: int, proposed: Proposed) -> bool:
        """Store version expected+1 unless another writer stored it first (optimistic concurrency)."""
        assert proposed.snapshot.version == expected_version + 1
        try:
            await self._log.insert_one(_version_doc(proposed))
        except DuplicateKeyError:
            return False
        self._stored([proposed.snapshot])
        return True

    async def finish_publication(self, candidate_id: str, version: int) -> bool:
        """After `version` is on the topic: confirm it; False when a newer version exists (publish it last)."""
        return not await self.finish_publication_many({candidate_id: version})

    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]:
        """These versions are on the topic (acknowledged); the candidates that have a newer version stored."""
        for cid, v in versions.items():
            self._unconfirmed.pop(_vid(cid, v), None)
        newer = await find_by_ids(self._log, [_vid(cid, v + 1) for cid, v in versions.items()], {"_id": 1})
        return {cid for cid, v in versions.items() if _vid(cid, v + 1) in newer}

    def awaiting_publication(self, candidate_id: str, version: int) -> bool:
        """Whether a version is stored but not yet confirmed on the topic (a crash came in between)."""
        return _vid(candidate_id, version) in self._unconfirmed

    def forget_unconfirmed(self, candidate_id: str, up_to: int) -> None:
        """Stop tracking versions up to `up_to` as unconfirmed (a newer one is on the topic)."""
        for v in range(1, up_to + 1):
            self._unconfirmed.pop(_vid(candidate_id, v), None)

    async def pending_outbox(self, older_than: datetime, limit: int) -> list[str]:
        """Candidates with versions stored before `older_than` whose publication is unconfirmed."""
        stuck = [vid for vid, at in self._unconfirmed.items() if at < older_than][:limit]
        return list(dict.fromkeys(vid.rsplit(":", 1)[0] for vid in stuck))

    async def history(self, candidate_id: str) -> list[HistoryEntry]:
        """Every recorded change, oldest first."""
        latest = await self.latest_version(candidate_id)
        first = await self._base(candidate_id) + 1
        found = await find_by_ids(self._log, [_vid(candidate_id, v) for v in range(first, latest + 1)])
        docs = [found.get(_vid(candidate_id, v)) for v in range(first, latest + 1)]
        return [
            HistoryEntry(
                d["candidate_id"], d["version"], d["at"], ChangeSource(d["source"]), d["summary"], d["changes"]
            )
            for d in docs
            if d is not None
        ]

    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> Erasure:
        """Delete the candidate's log; keep only a keyed hash that suppresses re-creation (rare: scans).

        The suppression is stored first (a concurrent import checks it after publishing), with the
        erasure's time and version: one above the last stored version, or above an earlier erasure's.
        """
        latest = await self.latest_version(candidate_id)
        prior = await self._suppressions.find_one({"_id": suppression_key})
        version = max(latest, prior["version"] if prior and "version" in prior else 0) + 1
        doc = {"at": at, "version": version, "renewed_at": None}
        if prior is None:
            await insert_new(self._suppressions, [{"_id": suppression_key, **doc}])
        else:
            await self._suppressions.update_one({"_id": suppression_key}, {"$set": doc})
        self._suppression_keys.add(suppression_key)
        deleted = await self._log.delete_many({"candidate_id": candidate_id})
        # Pending one-time codes of the self-service page (a number not yet verified is in them, in clear).
        await MongoVerificationStore(self._db).erase(candidate_id)
        self._latest.pop(candidate_id, None)
        return Erasure(existed=deleted.deleted_count > 0, version=version)

    async def forget_applications(self, candidate_id: str) -> None:
        """The last step of an erasure: while these remain, the retention job finds an interrupted one."""
        await self._apps.delete_many({"candidate_id": candidate_id})

    async def suppressions(self, suppression_keys: Iterable[str], fresh: bool = False) -> dict[str, Suppression]:
        """The suppressions among these keys (erased candidates, and ones who came back after an erasure).

        Known keys come from memory (reloaded every minute, so another instance's erasures arrive) and
        are confirmed by point reads: a renewal must not wait for the reload. `fresh` reads every key
        (after a publication, where another instance's erasure of a moment ago matters).
        """
        now = asyncio.get_running_loop().time()
        if now - self._suppressions_loaded_at > 60:
            self._suppressions_loaded_at = now
            self._suppression_keys = {d["_id"] async for d in self._suppressions.find({}, {"_id": 1})}
        known = list(set(suppression_keys) if fresh else set(suppression_keys) & self._suppression_keys)
        docs = (await find_by_ids(self._suppressions, known)).values() if known else ()
        return {d["_id"]: Suppression(d["at"], d.get("version", 0), d.get("renewed_at")) for d in docs}

    async def renew(self, suppression_key: str, candidate_id: str, renewed_at: datetime, base: int) -> None:
        """The candidate came back with renewed consent: events from `renewed_at` on are theirs again.

        Their new profile counts on from the erasure's version `base` (a marker at version 0 says so), so
        every view takes it as newer than the erasure.
        """
        await self._suppressions.update_one({"_id": suppression_key}, {"$set": {"renewed_at": renewed_at}})
        marker = {"_id": _vid(candidate_id, 0), "candidate_id": candidate_id, "base": base, "at": renewed_at}
        await insert_new(self._log, [marker])
        self._latest[candidate_id] = max(self._latest.get(candidate_id, 0), base)

    async def record_applications(self, events: Sequence[ApplicationEvent]) -> None:
        """Append application lifecycle events (idempotent per ATS event)."""
        await insert_new(
            self._apps,
            [
                {
                    "_id": f"{e.candidate_id}:{e.application_id}:{e.event_id}",
                    "candidate_id": e.candidate_id,
                    "application_id": e.application_id,
                    "closed": e.closed,
                    "at": e.at,
                }
                for e in events
            ],
        )

    async def application_events(self) -> list[ApplicationEvent]:
        """Every lifecycle event (the retention job's scan)."""
        return [
            ApplicationEvent(d["candidate_id"], d["application_id"], d["closed"], d["at"], d["_id"])
            async for d in self._apps.find({})
        ]
