"""An erasure by another instance that lands while an ATS import publishes: the candidate still ends erased.

The erasure stores its suppression before it deletes and publishes its tombstone; the import checks the
suppression after its snapshot is acknowledged. Whichever of the two reached the topic last, the last
record for the candidate is a tombstone, and the import tells the router the events are suppressed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry

from schemas.ats import ATS_EVENT_ADAPTER
from services.preference.metrics import PreferenceMetrics
from services.preference.service import PreferenceService
from services.preference.store import Suppression
from tests.fakes import FakePreferenceStore, FakeSnapshotPublisher
from tests.support import ats_event

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class ErasedElsewhereDuringPublish(FakePreferenceStore):
    """Another instance erases the candidate after our snapshot was acknowledged, before our check."""

    def __init__(self, service_key: str) -> None:
        super().__init__()
        self._key = service_key

    async def finish_publication_many(self, versions: dict[str, int]) -> set[str]:
        self.erased[self._key] = Suppression(NOW, 2)
        return await super().finish_publication_many(versions)


def service_with(store: FakePreferenceStore, publisher: FakeSnapshotPublisher) -> PreferenceService:
    return PreferenceService(store, publisher, PreferenceMetrics(CollectorRegistry()), lambda: NOW, b"k")


async def test_a_concurrent_erasure_wins_over_a_profile_created_by_an_import() -> None:
    publisher = FakeSnapshotPublisher()
    probe = service_with(FakePreferenceStore(), publisher)
    store = ErasedElsewhereDuringPublish(probe.suppression_key("c1"))
    service = service_with(store, publisher)
    event = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", "c1"))

    admission = await service.import_from_ats([event])

    assert admission.suppressed == {event.id} and "c1" not in admission.versions
    assert [type(p).__name__ for p in publisher.published] == ["PreferenceSnapshot", "str"], "tombstone last"
    assert await store.get("c1") is None


async def test_events_of_an_erased_candidate_are_suppressed_and_create_nothing() -> None:
    store, publisher = FakePreferenceStore(), FakeSnapshotPublisher()
    service = service_with(store, publisher)
    first = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", "c2"))
    assert (await service.import_from_ats([first])).versions == {"c2": 1}
    await service.erase("c2")

    later = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.stage.changed", "c2"))
    again = await service.import_from_ats([first, later])

    assert again.suppressed == {first.id, later.id} and again.versions == {}
    assert await store.get("c2") is None
    assert publisher.published[-1] == "c2", "nothing was published after the tombstone"


async def test_a_new_application_with_renewed_consent_is_the_way_back() -> None:
    store, publisher = FakePreferenceStore(), FakeSnapshotPublisher()
    service = service_with(store, publisher)
    old = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", "c3", time_=NOW))
    await service.import_from_ats([old])
    await service.erase("c3")  # version 1 -> erasure at version 2
    stale = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.stage.changed", "c3", time_=NOW + timedelta(hours=1)))
    without = ATS_EVENT_ADAPTER.validate_python(
        ats_event("ats.application.received", "c3", time_=NOW + timedelta(days=2))
    )
    assert (await service.import_from_ats([stale, without])).suppressed == {stale.id, without.id}, (
        "no consent: no way back"
    )

    renewed = ats_event("ats.application.received", "c3", time_=NOW + timedelta(days=3))
    renewed["data"]["application"] |= {"id": "app-2", "consent_renewed_at": (NOW + timedelta(days=3)).isoformat()}
    back = ATS_EVENT_ADAPTER.validate_python(renewed)
    admission = await service.import_from_ats([old, back])  # a replay of the old life in the same batch

    assert admission.suppressed == {old.id}, "what happened before the renewal stays suppressed"
    assert admission.versions == {"c3": 3}, "the new profile counts on from the erasure (2), so views take it"
    snapshot = await store.get("c3")
    assert snapshot is not None and snapshot.version == 3
    assert (await service.import_from_ats([stale])).suppressed == {stale.id}
