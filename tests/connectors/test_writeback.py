"""Write-back: notifications.status (produced by librdkafka, as any writer could) becomes notes in the ATS.

Through real Kafka and the Greenhouse emulator over HTTP: the ATS down for a while (retried, nothing lost),
redelivered states (nothing doubled), candidates no webhook linked and states not worth a note (skipped).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings
from tests.connectors.conftest import SECRETS, ConnectorFactory, connections
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.support import eventually, produce

CANDIDATE = "greenhouse:60304594"
T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def status(candidate: str, notification: str, state: str, minutes: int, **extra: Any) -> dict[str, Any]:
    """A notifications.status event as the router or the notifier writes it."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:test:notifier",
        "type": "notification.status.changed",
        "time": (T0 + timedelta(minutes=minutes)).isoformat(),
        "subject": candidate,
        "datacontenttype": "application/json",
        "data": {
            "notification_id": notification,
            "ats_event_id": "ev-1",
            "candidate_id": candidate,
            "application_id": "71980812",
            "status": state,
            "channel": "email",
            "stage": "interview_scheduling",
            "attempt": 1,
            "reason": "the candidate chose e-mail for interview scheduling",
            "occurred_at": (T0 + timedelta(minutes=minutes)).isoformat(),
            **extra,
        },
    }


async def test_states_become_one_note_per_batch_retried_while_the_ats_is_down_and_never_doubled(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    doc = fixture("greenhouse", "new_candidate_application")
    body = body_of(doc)
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with connector(connections=connections(url), api_attempts=2, writeback_rounds=4) as client:
        linked = await client.post(
            "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRETS["greenhouse"])
        )
        assert linked.status_code == 202
        state.failures["greenhouse"] = [503, 503, 429]  # round 1 (two tries) and the first try of round 2
        await produce(
            kafka,
            "notifications.status",
            [
                status(CANDIDATE, first, "queued", 0),  # not worth a note
                status(CANDIDATE, first, "sent", 1),
                status(CANDIDATE, first, "delivered", 2),
                status("greenhouse:someone-else", str(uuid.uuid4()), "sent", 1),  # no webhook linked them
            ],
        )
        await eventually(lambda: _with(state, "delivered by"), what="the notes at the Greenhouse emulator")
        # Redelivered states, then a new one: once its note is there, the duplicates were handled before it.
        await produce(
            kafka,
            "notifications.status",
            [status(CANDIDATE, first, "sent", 1), status(CANDIDATE, first, "delivered", 2)],
        )
        await produce(kafka, "notifications.status", [status(CANDIDATE, second, "bounced", 5, contact_invalid=True)])
        await eventually(lambda: _with(state, "bounced"), what="the note of the bounce")
        metrics = (await client.get("/metrics")).text

    notes = state.notes
    assert {(n["candidate_id"], n["on_behalf_of"], n["visibility"]) for n in notes} == {
        ("60304594", "4080", "admin_only")
    }
    assert all(n["body"].startswith("Candidate communication (candidate-comms)\n- ") for n in notes)
    lines = [line for n in notes for line in n["body"].splitlines()[1:-1]]
    assert all(n["body"].splitlines()[-1].startswith("ref: candidate-comms/") for n in notes)  # the note's marker
    why = "(why: the candidate chose e-mail for interview scheduling)"
    # Every state once, however the batches fell: the redelivered ones were not written again.
    assert sorted(lines) == [
        f"- 2026-12-01 10:01 UTC - interview scheduling message - sent by e-mail {why}",
        f"- 2026-12-01 10:02 UTC - interview scheduling message - delivered by e-mail {why}",
        f"- 2026-12-01 10:05 UTC - interview scheduling message - bounced (e-mail); the address does not exist {why}",
    ]
    # The three failed tries, a note each, and one listing of the activity feed: the retried round looked for
    # the marker of the note its failed round may have left (https://developers.greenhouse.io/harvest.html
    # #get-retrieve-activity-feed) before writing it.
    calls = [c for c in state.calls if "/activity_feed" in c["path"]]  # notes and their list, nothing else
    feeds = [c for c in calls if c["method"] == "GET"]
    assert len(calls) == 3 + len(notes) + 1 and feeds, calls
    assert 'connector_notes_total{connection="greenhouse",outcome="duplicate"} 2.0' in metrics


async def _with(state: EmulatorState, text: str) -> bool:
    return any(text in n["body"] for n in state.notes)
