"""The ATS's notice of a candidate's own erasure (candidate.data.erased): nothing lost, nothing doubled.

The erasure deletes what the candidate's link needs, so a notice lost after it (Kafka down, a crash) could
never be asked for again. The pattern of the versions' outbox (PreferenceService.relay_once) applies:
- the notice is stored before the erasure (`erasure_notices`, `_id` = its CloudEvent id; it names only the
  candidate id, when, the last version and what is kept: what the ATS needs, no other personal data);
- it is produced right after the erasure and removed once the broker acknowledged it;
- the relay (every outbox interval) takes notices older than the grace. One already on candidate.events
  (its id is the record's correlation id; the candidate's partition is read first) was produced before a
  crash between the broker's acknowledgement and the removal: it is removed, not sent again. Any other
  is the trace of an erasure the candidate confirmed and a failure interrupted (the database or the
  broker down before the versions were deleted, or before the tombstone was acknowledged, which would
  leave the views holding the last snapshot): the relay completes the erasure (idempotent; not for a
  candidate who came back since), then produces the notice.
- one instance at a time: whoever sends a notice (the page, or the relay of any preference instance) first
  claims it for a lease, insert-only (see `lease_ids`), so two instances' relays never both produce it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from schemas.candidate_events import DataErasedEvent
from schemas.topics import CANDIDATE_EVENTS
from services.common.failpoints import CrashPoints
from services.common.kafka import Partitioner
from services.common.locks import KeyedLocks
from services.common.mongo import insert_new
from services.common.settings import KafkaSettings
from services.preference.publisher import records_until_now
from services.preference.service import PreferenceService

log = logging.getLogger(__name__)
OnTopic = Callable[[list[DataErasedEvent]], Awaitable[set[str]]]  # which of these notices are on the topic


def lease_ids(notice_id: str, at: datetime, lease: timedelta) -> list[str]:
    """The claim documents a sender inserts to hold a notice from `at` for at least `lease`.

    Time is cut into slots of one lease; a claim is the slot of `at` and the next one, and it holds only
    if the sender inserted both (a unique `_id` decides, atomic where a conditional update is not). Two
    claims that both hold are therefore more than one lease apart: the later sender finds what the
    earlier one produced on the topic, as long as a send ends (produced or failed) within the lease. A
    sender that got one slot but not the other gives it back.
    """
    slot = math.floor(at.timestamp() / lease.total_seconds())
    return [f"{notice_id}@{slot}", f"{notice_id}@{slot + 1}"]


class NoticeOutbox(Protocol):
    """Erasure notices stored until the broker acknowledged them, and who may send each one now."""

    async def add(self, notice: DataErasedEvent, at: datetime) -> None: ...
    async def claim(self, notice_id: str, at: datetime, lease: timedelta) -> bool: ...
    async def release(self, notice_id: str) -> None: ...
    async def holds(self, notice_id: str) -> bool: ...
    async def older_than(self, at: datetime, limit: int) -> list[tuple[DataErasedEvent, datetime]]: ...
    async def remove(self, notice_id: str) -> None: ...


class MongoNoticeOutbox:
    """NoticeOutbox in the preference database (a near-empty collection: read whole by the relay)."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._notices = db["erasure_notices"]
        self._claims = db["erasure_notice_claims"]

    async def add(self, notice: DataErasedEvent, at: datetime) -> None:
        """Store a notice (insert-only: the same notice asked for again keeps the first)."""
        doc = {"_id": notice.id, "candidate_id": notice.subject, "notice": notice.model_dump_json(), "at": at}
        await insert_new(self._notices, [doc])

    async def claim(self, notice_id: str, at: datetime, lease: timedelta) -> bool:
        """Whether this sender holds the notice for the lease (no other sender claimed it within one)."""
        ids = lease_ids(notice_id, at, lease)
        taken = await insert_new(self._claims, [{"_id": i, "notice_id": notice_id, "at": at} for i in ids])
        if not taken:
            return True
        # Lost: take back the slot this attempt did get, or every retry would push the claim a slot further.
        await self._claims.delete_many({"_id": {"$in": [i for n, i in enumerate(ids) if n not in taken]}})
        return False

    async def release(self, notice_id: str) -> None:
        """The sender gave up (its send failed): another may claim the notice at once."""
        await self._claims.delete_many({"notice_id": notice_id})

    async def holds(self, notice_id: str) -> bool:
        """Whether a notice still waits for the broker."""
        return await self._notices.find_one({"_id": notice_id}, {"_id": 1}) is not None

    async def older_than(self, at: datetime, limit: int) -> list[tuple[DataErasedEvent, datetime]]:
        """Notices stored before `at`, with when they were stored."""
        docs = self._notices.find({"at": {"$lt": at}}).limit(limit)
        return [(DataErasedEvent.model_validate_json(d["notice"]), d["at"]) async for d in docs]

    async def remove(self, notice_id: str) -> None:
        """The notice is on the topic (its claims go with it)."""
        await self._notices.delete_one({"_id": notice_id})
        await self._claims.delete_many({"notice_id": notice_id})


def notices_on_topic(kafka: KafkaSettings, partitioner: Partitioner) -> OnTopic:
    """Which notices candidate.events already holds (only their candidates' partitions are read)."""

    async def on_topic(notices: list[DataErasedEvent]) -> set[str]:
        wanted = {n.id for n in notices}
        found: set[str] = set()
        partitions = {partitioner.of(n.subject) for n in notices}
        async for r in records_until_now(kafka, kafka.topic(CANDIDATE_EVENTS), partitions, "preference-notices"):
            found |= {v.decode() for k, v in r.headers if k == "correlation_id"} & wanted
        return found

    return on_topic


class ErasureNotices:
    """Erases a candidate at their request and tells the ATS exactly once."""

    def __init__(
        self,
        service: PreferenceService,
        outbox: NoticeOutbox,
        on_topic: OnTopic,
        crash: CrashPoints | None = None,
        lease: timedelta = timedelta(seconds=60),
    ) -> None:
        self._service = service
        self._outbox = outbox
        self._on_topic = on_topic
        self._crash = crash or CrashPoints(None)
        self._lease = lease
        self._sending = KeyedLocks()  # the page and the relay never send one notice at the same time

    async def erase(self, notice: DataErasedEvent) -> bool:
        """The API's erasure of the notice's candidate, the notice stored first and produced after it."""
        async with self._sending.hold(notice.id):
            now = self._service.clock()
            await self._outbox.add(notice, now)
            mine = await self._outbox.claim(notice.id, now, self._lease)  # not: the same request twice at once
            async with self._released_on_failure(notice.id, mine):
                existed = await self._service.erase(notice.subject)
                self._crash.reached("after_erase")
                if mine:
                    await self._send(notice)
            return existed

    async def relay_once(self, grace: timedelta, limit: int = 100) -> int:
        """Finish the erasures and notices a failure or a crash left behind (older than `grace`); how many."""
        started = self._service.clock()
        pending = await self._outbox.older_than(started - grace, limit)
        # Claimed before the topic is read: a notice another sender produced is on it by now.
        claimed = [(n, at) for n, at in pending if await self._outbox.claim(n.id, started, self._lease)]
        on_topic = await self._on_topic([n for n, _ in claimed]) if claimed else set()
        for notice, stored_at in claimed:
            if self._service.clock() - started > self._lease / 2:
                break  # the claims run out: the rest waits for the next round, claimed afresh
            async with self._sending.hold(notice.id):
                if not await self._outbox.holds(notice.id):
                    continue  # sent meanwhile (the page's own send)
                if notice.id in on_topic:
                    await self._outbox.remove(notice.id)  # produced before a crash: not again
                    continue
                async with self._released_on_failure(notice.id, True):
                    await self._service.finish_erasure(notice.subject, stored_at)
                    await self._send(notice)
                log.info("erasure finished and its notice relayed", extra={"notice_id": notice.id})
        return len(pending)

    @asynccontextmanager
    async def _released_on_failure(self, notice_id: str, claimed: bool) -> AsyncIterator[None]:
        """A claim whose send failed is given back, so the relay retries at once rather than after the lease.

        Not after a send that timed out: its record may still be on its way to the broker.
        """
        try:
            yield
        except TimeoutError:
            raise
        except Exception:
            if claimed:
                await self._outbox.release(notice_id)
            raise

    async def _send(self, notice: DataErasedEvent) -> None:
        # Within half the lease, or abandoned (retried by the relay): a send must not outlive the claim.
        await asyncio.wait_for(self._service.announce(notice), self._lease.total_seconds() / 2)
        self._crash.reached("after_erase_notice")
        await self._outbox.remove(notice.id)
