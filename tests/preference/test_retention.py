"""The retention job erases candidates whose procedures ended long enough ago, and finishes an erasure a
failure interrupted (in-memory store and publisher; the erasure's checks against the real database are in
tests/integration/test_erasure_final.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry

from schemas.ats import ATS_EVENT_ADAPTER
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.support import Clock, ats_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
RETENTION, TALENT_POOL = timedelta(days=28), timedelta(days=365)


class RefusesOneTombstone(FakeSnapshotPublisher):
    """The broker refuses the first tombstone (the versions are deleted by then), then is back."""

    def __init__(self) -> None:
        super().__init__()
        self.refusals = 1

    async def tombstone(self, candidate_id: str, version: int) -> tuple[int, int]:
        if self.refusals:
            self.refusals -= 1
            raise ConnectionError("broker unreachable")
        return await super().tombstone(candidate_id, version)


async def _candidates(publisher: FakeSnapshotPublisher) -> tuple[PreferenceService, FakePreferenceStore, Clock]:
    """c-ended: rejected 30 days ago; c-open: applied 30 days ago, still in a procedure."""
    store, clock = FakePreferenceStore(), Clock(NOW - timedelta(days=30))
    service = PreferenceService(store, publisher, PreferenceMetrics(CollectorRegistry()), clock, b"k")
    events = [
        ats_event("ats.application.received", "c-ended", time_=clock()),
        ats_event("ats.application.received", "c-open", time_=clock()),
        ats_event("ats.candidate.rejected", "c-ended", time_=clock() + timedelta(minutes=1)),
    ]
    await service.import_from_ats([ATS_EVENT_ADAPTER.validate_python(e) for e in events])
    clock.advance(timedelta(days=30))
    return service, store, clock


async def test_a_candidate_whose_procedures_ended_is_erased_and_an_active_one_kept() -> None:
    publisher = FakeSnapshotPublisher()
    service, store, _ = await _candidates(publisher)
    assert await service.retention_once(RETENTION, TALENT_POOL) == 1
    assert await store.get("c-ended") is None and await store.get("c-open") is not None
    assert publisher.published[-1] == "c-ended"  # the tombstone
    assert {e.candidate_id for e in await store.application_events()} == {"c-open"}
    assert await service.retention_once(RETENTION, TALENT_POOL) == 0  # nothing left to find


async def test_an_erasure_whose_tombstone_was_refused_is_finished_by_the_next_run() -> None:
    publisher = RefusesOneTombstone()
    service, store, _ = await _candidates(publisher)
    with pytest.raises(ConnectionError):
        await service.retention_once(RETENTION, TALENT_POOL)
    assert await store.get("c-ended") is None and "c-ended" not in publisher.published  # deleted, views not told
    assert await service.retention_once(RETENTION, TALENT_POOL) == 1
    assert publisher.published[-1] == "c-ended"
    assert {e.candidate_id for e in await store.application_events()} == {"c-open"}
