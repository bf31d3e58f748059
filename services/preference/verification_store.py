"""Where pending verifications and their rate limits live (MongoDB; the preference service's own collections).

Kept apart from store.py, whose log is the preference hot path: these documents are few, short-lived
and never read there. Like store.py, every write that must be exact is an insert with a unique `_id`,
atomic on FerretDB's SQLite backend where a conditional update is not: a limit of N is N slot
documents `<key>:1` .. `<key>:N`, and whoever inserts one holds it. Every document carries its
`expires_at` (a TTL index removes it on MongoDB; expired ones are also ignored and purged here) and
its candidate id, so an erasure removes them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from schemas.common import Channel
from services.common.mongo import find_by_ids
from services.preference.verification import Challenge, ContactRequest

log = logging.getLogger(__name__)


class VerificationStore(Protocol):
    """Pending challenges (one per candidate) and counted slots for rate limits and tries."""

    async def save_challenge(self, challenge: Challenge) -> None: ...
    async def challenge(self, candidate_id: str, now: datetime) -> Challenge | None: ...
    async def drop_challenge(self, candidate_id: str, challenge_id: str) -> None: ...
    async def take_slot(self, key: str, candidate_id: str, limit: int, expires_at: datetime) -> bool: ...
    async def erase(self, candidate_id: str) -> None: ...


def _challenge_doc(c: Challenge) -> dict[str, Any]:
    r = c.request
    return {
        "_id": c.candidate_id,
        "challenge_id": c.id,
        "candidate_id": c.candidate_id,
        "kind": r.kind,
        "address": r.address,  # needed to store it once verified; gone with the challenge
        "channels": [ch.value for ch in r.channels],
        "first": r.first.value if r.first else None,
        "code_hash": c.code_hash,
        "created_at": c.created_at,
        "expires_at": c.expires_at,
    }


def _challenge(d: dict[str, Any]) -> Challenge:
    request = ContactRequest(
        d["kind"], d["address"], tuple(Channel(v) for v in d["channels"]), Channel(d["first"]) if d["first"] else None
    )
    return Challenge(d["challenge_id"], d["candidate_id"], request, d["code_hash"], d["created_at"], d["expires_at"])


def _aware(d: datetime, like: datetime) -> datetime:
    """BSON dates come back naive (UTC) unless the client is tz-aware."""
    return d if d.tzinfo is not None else d.replace(tzinfo=like.tzinfo)


class MongoVerificationStore:
    """VerificationStore on MongoDB/FerretDB (verification_challenges, verification_slots)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._challenges = db["verification_challenges"]
        self._slots = db["verification_slots"]
        self._indexed = False

    async def _ensure_indexes(self) -> None:
        if self._indexed:
            return
        self._indexed = True
        for coll in (self._challenges, self._slots):
            try:
                await coll.create_index("expires_at", expireAfterSeconds=0)
                await coll.create_index("candidate_id")
            except OperationFailure as exc:  # a backend without TTL indexes: expired ones are purged below
                log.warning("verification index not created", extra={"code": exc.code})

    async def save_challenge(self, challenge: Challenge) -> None:
        """Store the candidate's pending challenge, replacing an earlier one (its code stops working)."""
        await self._ensure_indexes()
        await self.purge(challenge.created_at)  # where TTL indexes are missing (FerretDB 1.24); codes are rare
        doc = _challenge_doc(challenge)
        await self._challenges.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def challenge(self, candidate_id: str, now: datetime) -> Challenge | None:
        """The candidate's pending challenge, expired or not (the page says which); None when there is none."""
        d = await self._challenges.find_one({"_id": candidate_id})
        if d is None:
            return None
        d["created_at"], d["expires_at"] = _aware(d["created_at"], now), _aware(d["expires_at"], now)
        return _challenge(d)

    async def drop_challenge(self, candidate_id: str, challenge_id: str) -> None:
        """Remove the challenge if it is still this one (a newer one stays)."""
        await self._challenges.delete_one({"_id": candidate_id, "challenge_id": challenge_id})

    async def take_slot(self, key: str, candidate_id: str, limit: int, expires_at: datetime) -> bool:
        """Take one of `limit` slots under `key`; False when all are taken (the limit is reached)."""
        await self._ensure_indexes()
        ids = [f"{key}:{n}" for n in range(1, limit + 1)]
        taken = await find_by_ids(self._slots, ids, {"_id": 1})
        for slot in (i for i in ids if i not in taken):
            try:
                await self._slots.insert_one({"_id": slot, "candidate_id": candidate_id, "expires_at": expires_at})
            except DuplicateKeyError:
                continue  # taken concurrently: try the next one
            return True
        return False

    async def erase(self, candidate_id: str) -> None:
        """Remove everything kept for a candidate's verifications."""
        for coll in (self._challenges, self._slots):
            await coll.delete_many({"candidate_id": candidate_id})

    async def purge(self, now: datetime) -> int:
        """Remove expired documents (what a TTL index does on MongoDB); how many went."""
        gone = 0
        for coll in (self._challenges, self._slots):
            gone += (await coll.delete_many({"expires_at": {"$lt": now}})).deleted_count
        return gone


def slot_keys(link_key: str, address_key: str, now: datetime) -> Iterable[tuple[str, str]]:
    """The rate-limit keys of one code request: per link per hour, per address per day (fixed windows)."""
    yield "link", f"link:{link_key}:{now:%Y%m%d%H}"
    yield "address", f"address:{address_key}:{now:%Y%m%d}"
