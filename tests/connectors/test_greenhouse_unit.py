"""Greenhouse adapter, pure parts: the scheduled interview object, what a change of it means, the new web hooks.

Documentation followed: https://developers.greenhouse.io/harvest.html#the-scheduled-interview-object (start/end
as date_time or date, status scheduled/awaiting_feedback/complete, updated_at) and
https://developers.greenhouse.io/webhooks.html (Interview deleted: ``payload.interview.id`` only; Offer created
and Offer updated: the offer with ``application_id``, ``sent_on`` and ``offer_status`` Created, Accepted,
Rejected or Deprecated).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.connectors.adapters import InterviewFacts, KnownInterview, Rejected, WebhookItem
from services.connectors.greenhouse import ADAPTER
from services.connectors.greenhouse_harvest import RESCHEDULED, SCHEDULED, interview_change, interview_facts
from tests.connectors.webhooks import body_of, fixture

NOW = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
START = NOW + timedelta(days=2)


def harvest(**changes: Any) -> dict[str, Any]:
    """A scheduled interview as Harvest lists it (the documented object, times moved into the future)."""
    doc: dict[str, Any] = {
        "id": 9001,
        "application_id": 71980812,
        "external_event_id": "event123",
        "start": {"date_time": START.isoformat().replace("+00:00", ".000Z")},
        "end": {"date_time": (START + timedelta(hours=1)).isoformat().replace("+00:00", ".000Z")},
        "location": "Utrecht, Jaarbeursplein 1",
        "video_conferencing_url": "https://meet.example.org/abc",
        "status": "scheduled",
        "created_at": "2026-12-03T14:31:51.019Z",
        "updated_at": "2026-12-03T14:31:51.019Z",
        "interview": {"id": 7001, "name": "Culture Fit"},
    }
    return {**doc, **changes}


def told(**changes: Any) -> KnownInterview:
    """What the connector remembers after telling the pipeline about `harvest()`."""
    facts = interview_facts(harvest())
    assert facts is not None
    fields = {"start": facts.start, "end": facts.end, "location": facts.location, "video_link": facts.video_link}
    return KnownInterview("greenhouse", "71980812", "60304594", InterviewFacts(facts.id, **{**fields, **changes}))


def test_the_documented_object_becomes_our_interview() -> None:
    facts = interview_facts(harvest())
    assert facts is not None
    assert (facts.id, facts.start, facts.end - facts.start) == ("gh-9001", START, timedelta(hours=1))
    assert (facts.location, facts.video_link) == ("Utrecht, Jaarbeursplein 1", "https://meet.example.org/abc")
    assert facts.sequence == int(datetime(2026, 12, 3, 14, 31, 51, tzinfo=UTC).timestamp())
    # An all-day interview has a date and no time: nothing to invite to.
    assert interview_facts(harvest(start={"date": "2026-12-06"}, end={"date": "2026-12-07"})) is None


@pytest.mark.parametrize(
    ("listed", "known", "kind"),
    [
        (harvest(), None, SCHEDULED),
        (harvest(), told(), None),  # e.g. an interviewer accepted: updated_at moved, the interview did not
        (harvest(location="Amsterdam, Dam 1"), told(), RESCHEDULED),
        (harvest(start={"date_time": (START - timedelta(hours=2)).isoformat()}), told(), RESCHEDULED),
        (harvest(), KnownInterview("greenhouse", "1", "2", told().interview, cancelled=True), SCHEDULED),
        (harvest(status="awaiting_feedback"), None, None),
        (harvest(status="complete"), told(), None),
        (harvest(start={"date_time": "2026-01-01T09:00Z"}, end={"date_time": "2026-12-04T09:59Z"}), None, None),
    ],
    ids=["new", "unchanged", "moved-place", "moved-time", "back-after-cancel", "awaiting-feedback", "complete", "over"],
)  # fmt: skip
def test_what_a_listed_interview_means(listed: dict[str, Any], known: KnownInterview | None, kind: str | None) -> None:
    assert interview_change(listed, known, NOW) == kind


def test_interview_deleted_names_the_interview_for_the_intake() -> None:
    body = body_of(fixture("greenhouse", "interview_deleted"))
    (item,) = ADAPTER.parse({"greenhouse-event-id": "e-1"}, body)  # type: ignore[misc]
    assert (item.event_id, item.kind, item.interview_ref, item.known_interview) == (
        "e-1",
        "interview_deleted",
        "gh-9001",
        None,
    )
    with pytest.raises(Rejected):
        ADAPTER.parse({}, body_of({"action": "interview_deleted", "payload": {"interview": {}}}))


async def test_a_deleted_interview_we_never_told_about_or_that_is_over_produces_nothing() -> None:
    item = WebhookItem("e-1", "interview_deleted", {"interview": {"id": 9001}}, NOW, "gh-9001", None)
    assert await ADAPTER.complete(item, api=None) == []  # type: ignore[arg-type]  # nothing is fetched
    over = told(start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    item = WebhookItem("e-1", "interview_deleted", {"interview": {"id": 9001}}, NOW, "gh-9001", over)
    assert await ADAPTER.complete(item, api=None) == []  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "extended"),
    [
        ({}, True),
        ({"offer_status": "unresolved"}, True),  # Harvest's word for an open offer
        ({"sent_on": None}, False),  # a draft or one waiting for approval: not in the candidate's hands
        ({"offer_status": "Accepted"}, False),
        ({"offer_status": "Rejected"}, False),
        ({"offer_status": "Deprecated"}, False),  # replaced by a new version (offer_created fires for that one)
    ],
)
async def test_an_offer_is_extended_once_it_is_sent_and_open(changes: dict[str, Any], extended: bool) -> None:
    for action in ("offer_created", "offer_updated"):
        doc = fixture("greenhouse", "offer_created")
        doc["action"] = action
        doc["payload"].update(changes)
        (item,) = ADAPTER.parse({"greenhouse-event-id": "e-2"}, body_of(doc))  # type: ignore[misc]
        # One sent offer is one message: keyed by the offer, so created + updated of it dedupe.
        assert item.event_id == ("offer/506406" if extended else "e-2")
        if not extended:
            assert await ADAPTER.complete(item, api=None) == []  # type: ignore[arg-type]
