"""The ATS's notice of a candidate's own erasure is neither lost nor doubled (in-memory fakes; the real broker
and a real crash are in tests/e2e/test_erasure_notice_crash.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.candidate_events import CandidateEvent, DataErased, DataErasedEvent
from services.preference.erasure_notices import ErasureNotices, lease_ids
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from services.preference.store import Erasure
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.support import Clock, ats_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=2)
LEASE = timedelta(seconds=60)


class MemoryOutbox:
    """NoticeOutbox in memory."""

    def __init__(self) -> None:
        self.notices: dict[str, tuple[DataErasedEvent, datetime]] = {}
        self.claims: set[str] = set()

    async def add(self, notice: DataErasedEvent, at: datetime) -> None:
        self.notices.setdefault(notice.id, (notice, at))

    async def claim(self, notice_id: str, at: datetime, lease: timedelta) -> bool:
        ids = set(lease_ids(notice_id, at, lease))
        if ids & self.claims:
            return False
        self.claims |= ids
        return True

    async def release(self, notice_id: str) -> None:
        self.claims = {c for c in self.claims if not c.startswith(f"{notice_id}@")}

    async def holds(self, notice_id: str) -> bool:
        return notice_id in self.notices

    async def older_than(self, at: datetime, limit: int) -> list[tuple[DataErasedEvent, datetime]]:
        return [(n, stored) for n, stored in self.notices.values() if stored < at][:limit]

    async def remove(self, notice_id: str) -> None:
        self.notices.pop(notice_id, None)
        await self.release(notice_id)


class Topic:
    """candidate.events as the ATS would read it; `down` makes producing fail as an unreachable broker does."""

    def __init__(self) -> None:
        self.records: list[CandidateEvent] = []
        self.down = False
        self.slow = False  # a produce waits a moment for its acknowledgement: another sender can run meanwhile

    async def produce(self, event: CandidateEvent) -> None:
        if self.down:
            raise ConnectionError("broker unreachable")
        if self.slow:
            await asyncio.sleep(0.01)
        self.records.append(event)

    async def holds(self, notices: list[DataErasedEvent]) -> set[str]:
        return {r.id for r in self.records} & {n.id for n in notices}


class FailingErasure(FakePreferenceStore):
    """The database fails in the middle of the first erasure, before the versions are deleted; then it is back."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def erase(self, candidate_id: str, suppression_key: str, at: datetime) -> Erasure:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database unreachable")
        return await super().erase(candidate_id, suppression_key, at)


class FailingTombstone(FakeSnapshotPublisher):
    """The broker refuses the first tombstone (the versions are deleted by then); then it is back."""

    def __init__(self) -> None:
        super().__init__()
        self.failures = 1

    async def tombstone(self, candidate_id: str, version: int) -> tuple[int, int]:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("broker unreachable")
        return await super().tombstone(candidate_id, version)


async def _setup(
    store: FakePreferenceStore | None = None, publisher: FakeSnapshotPublisher | None = None
) -> tuple[ErasureNotices, MemoryOutbox, Topic, Clock]:
    """A candidate c1 whose erasure notices go to `Topic` through the service's candidate.events publisher."""
    clock, topic, outbox = Clock(NOW), Topic(), MemoryOutbox()
    service = PreferenceService(
        store or FakePreferenceStore(),
        publisher or FakeSnapshotPublisher(),
        PreferenceMetrics(CollectorRegistry()),
        clock,
        b"k",
        notify=topic.produce,
    )
    await service.import_from_ats([ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", "c1"))])
    return ErasureNotices(service, outbox, topic.holds), outbox, topic, clock


def _notice(at: datetime) -> DataErasedEvent:
    data = DataErased(candidate_id="c1", requested_by="candidate", erased_at=at, last_version=1, kept=("a hash",))
    return DataErasedEvent(id="notice-c1-1", source="urn:test", time=at, subject="c1", data=data)


async def test_a_notice_the_broker_refused_after_the_erasure_is_relayed_once() -> None:
    notices, outbox, topic, clock = await _setup()
    topic.down = True
    with pytest.raises(ConnectionError):
        await notices.erase(_notice(NOW))
    assert topic.records == [] and list(outbox.notices) == ["notice-c1-1"]  # erased, the notice kept

    clock.advance(GRACE * 2)
    with pytest.raises(ConnectionError):
        await notices.relay_once(GRACE)  # still down: kept for the next round
    topic.down = False
    assert await notices.relay_once(GRACE) == 1
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {}
    assert await notices.relay_once(GRACE) == 0
    assert len(topic.records) == 1


async def test_a_notice_on_the_topic_but_still_in_the_outbox_is_not_produced_again() -> None:
    notices, outbox, topic, clock = await _setup()
    notice = _notice(NOW)
    await notices.erase(notice)
    await outbox.add(notice, NOW)  # as a crash between the broker's acknowledgement and the removal leaves it
    clock.advance(GRACE * 2)
    assert await notices.relay_once(GRACE) == 1
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {}


async def test_a_fresh_notice_is_left_to_the_page_and_an_interrupted_erasure_is_finished_then_told() -> None:
    store = FailingErasure()
    notices, outbox, topic, clock = await _setup(store)
    with pytest.raises(ConnectionError):
        await notices.erase(_notice(NOW))
    assert await store.get("c1") is not None  # nothing deleted yet
    assert await notices.relay_once(GRACE) == 0  # within the grace: the page may still be at it
    clock.advance(GRACE * 2)
    assert await notices.relay_once(GRACE) == 1  # the database is back: the confirmed erasure is carried out
    assert await store.get("c1") is None and len(store.erased) == 1
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {}


async def test_an_erasure_whose_tombstone_the_broker_refused_gets_its_tombstone_from_the_relay() -> None:
    publisher = FailingTombstone()
    notices, outbox, topic, clock = await _setup(publisher=publisher)
    with pytest.raises(ConnectionError):
        await notices.erase(_notice(NOW))
    assert "c1" not in publisher.published  # deleted, but the views were never told
    clock.advance(GRACE * 2)
    assert await notices.relay_once(GRACE) == 1
    assert publisher.published[-1] == "c1"  # the tombstone, last on the topic
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {}


async def test_the_erasure_itself_is_the_apis_and_the_notice_follows_it_at_once() -> None:
    store = FakePreferenceStore()
    notices, outbox, topic, _ = await _setup(store)
    assert await notices.erase(_notice(NOW)) is True
    assert [r.type for r in topic.records] == ["candidate.data.erased"] and outbox.notices == {}
    assert await store.get("c1") is None and len(store.erased) == 1  # versions gone, the suppression key kept


async def test_two_instances_relaying_the_same_notice_produce_it_once() -> None:
    notices, outbox, topic, clock = await _setup()
    topic.down = True
    with pytest.raises(ConnectionError):
        await notices.erase(_notice(NOW))
    topic.down, topic.slow = False, True
    clock.advance(GRACE * 2)
    other = ErasureNotices(notices._service, outbox, topic.holds)  # a second preference instance, same stores
    assert await asyncio.gather(notices.relay_once(GRACE), other.relay_once(GRACE)) == [1, 1]
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {}


async def test_a_notice_whose_sender_died_is_relayed_once_its_claim_ran_out() -> None:
    notices, outbox, topic, clock = await _setup()
    notice = _notice(NOW)
    await outbox.add(notice, NOW)
    assert await outbox.claim(notice.id, NOW, LEASE)  # a sender that died before producing
    clock.advance(GRACE * 2)
    assert await notices.relay_once(GRACE) == 1  # looked at, not sent: the claim still holds
    assert topic.records == []
    clock.advance(LEASE * 2)
    assert await notices.relay_once(GRACE) == 1
    assert [r.id for r in topic.records] == ["notice-c1-1"] and outbox.notices == {} and outbox.claims == set()


@pytest.mark.parametrize("into_slot_s", [0, 17, 59.5])
def test_two_claims_that_both_hold_are_more_than_a_lease_apart(into_slot_s: float) -> None:
    first = NOW + timedelta(seconds=into_slot_s)  # NOW starts a slot
    for apart_s in (0, 1, 30, 59, 60):  # within one lease: the later claim finds the earlier one's
        later = first + timedelta(seconds=apart_s)
        assert set(lease_ids("n", first, LEASE)) & set(lease_ids("n", later, LEASE)), apart_s
    assert not set(lease_ids("n", first, LEASE)) & set(lease_ids("n", first + LEASE * 2, LEASE))
    assert not set(lease_ids("n", first, LEASE)) & set(lease_ids("other", first, LEASE))
