"""The pure parts of the connectors: ids, stage mapping, contact normalisation, notes, pacing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from schemas.common import Stage
from schemas.status import StatusChange
from services.connectors.adapters import CandidateFacts, NoteTarget, Occurrence, RateLimit
from services.connectors.api import Pacer
from services.connectors.mapping import UnmappedStage, candidate_id, e164, email, event_id, map_stage
from services.connectors.notes import note_key, note_text
from services.connectors.settings import Connection

NOW = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def occurrence(kind: str, stage: str) -> Occurrence:
    return Occurrence(
        type=kind,
        candidate=CandidateFacts("42", "Sanne"),
        application_id="a1",
        job_title="Data engineer",
        stage=stage,
        time=NOW,
        note_target=NoteTarget("42"),
    )


def test_ids_are_stable_per_ats_event_and_distinct_per_connection_and_part() -> None:
    assert event_id("greenhouse", "e1") == event_id("greenhouse", "e1")
    assert len({event_id("greenhouse", "e1"), event_id("gh_nl", "e1"), event_id("greenhouse", "e1", "iv")}) == 3
    assert candidate_id("greenhouse", "60304594") == "greenhouse:60304594"
    assert candidate_id("lever", "abc/def ghi") == "lever:abc_def_ghi"  # only characters our ids allow


def test_stages_map_through_the_connection_then_the_default_and_an_unknown_stage_change_is_an_error() -> None:
    conn = Connection(stages={"Gesprek": Stage.INTERVIEW_SCHEDULING, "Offer": Stage.DOCUMENTS})
    assert map_stage(conn, "rt", occurrence("ats.stage.changed", " gesprek ")) is Stage.INTERVIEW_SCHEDULING
    assert map_stage(conn, "rt", occurrence("ats.stage.changed", "OFFER")) is Stage.DOCUMENTS  # own map first
    assert map_stage(conn, "rt", occurrence("ats.stage.changed", "Phone Screen")) is Stage.SCREENING
    assert map_stage(conn, "rt", occurrence("ats.candidate.hired", "Contract getekend")) is Stage.OFFER
    with pytest.raises(UnmappedStage, match="'Contract getekend' is not mapped"):
        map_stage(conn, "rt", occurrence("ats.stage.changed", "Contract getekend"))
    strict = Connection(use_default_stages=False)
    with pytest.raises(UnmappedStage):
        map_stage(strict, "gh", occurrence("ats.stage.changed", "Phone Screen"))


def test_contact_points_are_normalised_or_dropped() -> None:
    assert e164("06 12345678", "NL") == "+31612345678"
    assert e164("+44 20 7946 0958", "NL") == "+442079460958"
    assert e164("call me", "NL") is None
    assert email(" sanne@example.org ") == "sanne@example.org"
    assert email("not an address") is None


def test_a_note_lists_each_state_once_oldest_first() -> None:
    base = {
        "notification_id": "n1",
        "ats_event_id": "e1",
        "candidate_id": "greenhouse:42",
        "channel": "sms",
        "stage": "offer",
        "reason": "the candidate chose SMS",
    }
    later = StatusChange.model_validate({**base, "status": "delivered", "occurred_at": "2026-12-01T10:05:00+00:00"})
    first = StatusChange.model_validate(
        {**base, "status": "sent", "occurred_at": "2026-12-01T10:00:00+00:00", "attempt": 2}
    )
    assert note_key(first) == "n1:sent"
    assert note_text([later, first]).splitlines() == [
        "Candidate communication (candidate-comms)",
        "- 2026-12-01 10:00 UTC - offer message - sent by SMS - attempt 2 (why: the candidate chose SMS)",
        "- 2026-12-01 10:05 UTC - offer message - delivered by SMS (why: the candidate chose SMS)",
    ]


def test_the_pacer_lets_a_burst_through_then_spaces_calls_at_the_documented_rate() -> None:
    now = [0.0]
    pacer = Pacer(RateLimit(requests=5, per_seconds=10.0), clock=lambda: now[0])
    assert [pacer.delay() for _ in range(5)] == [0.0] * 5
    assert [pacer.delay() for _ in range(2)] == pytest.approx([2.0, 4.0])  # queued behind each other
    now[0] = 10.0
    assert pacer.delay() == 0.0  # refilled (less the two reserved)
