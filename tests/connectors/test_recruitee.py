"""Recruitee webhooks through the real service and real Kafka.

Documentation followed: https://docs.recruitee.com/docs/webhooks (the Test button's {"test": true} request,
the X-Recruitee-Signature header, the event envelope with id, event_type, event_subtype and payload).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from deploy.local.ats_emulators import EmulatorState
from services.common.settings import KafkaSettings
from tests.connectors.conftest import SECRETS, ConnectorFactory, connections
from tests.connectors.webhooks import body_of, fixture, recruitee_headers
from tests.support import read_json

SECRET = SECRETS["recruitee"]


async def deliver(client: httpx.AsyncClient, doc: dict[str, Any], secret: str = SECRET) -> httpx.Response:
    """POST a fixture signed as Recruitee signs it."""
    body = body_of(doc)
    return await client.post("/v1/webhooks/recruitee", content=body, headers=recruitee_headers(body, secret))


@pytest.mark.parametrize(
    ("name", "kind", "stage"),
    [
        ("new_candidate", "ats.application.received", "application"),
        ("candidate_moved", "ats.stage.changed", "interview_scheduling"),  # "Gesprek", by the connection's map
        ("candidate_disqualified", "ats.candidate.rejected", "rejection"),
    ],
)
async def test_each_documented_event_becomes_our_event(
    connector: ConnectorFactory,
    kafka: KafkaSettings,
    ats_api: tuple[str, EmulatorState],
    name: str,
    kind: str,
    stage: str,
) -> None:
    async with connector(connections=connections(ats_api[0])) as client:
        test_request = await deliver(client, fixture("recruitee", "test"))
        answer = await deliver(client, fixture("recruitee", name))
        events = await read_json(kafka, "ats.events")

    assert (test_request.status_code, test_request.json()["status"]) == (200, "ok")
    assert answer.status_code == 202, answer.text
    (event,) = events
    assert event["type"] == kind
    assert event["subject"] == "recruitee:3180571"
    candidate = event["data"]["candidate"]
    assert (candidate["name"], candidate["email"], candidate["phone"]) == (
        "Daan Jansen",
        "daan.jansen@example.org",
        "+31623456789",
    )
    assert event["data"]["application"] == {"id": "44550011", "job_title": "Backend developer", "stage": stage}


async def test_a_move_into_a_hire_stage_is_a_hire_and_redeliveries_are_taken_once(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    doc = fixture("recruitee", "candidate_moved")
    doc["payload"]["details"]["to_stage"] = {"id": 109, "name": "Hired", "category": "hire"}
    async with connector(connections=connections(ats_api[0])) as client:
        first = await deliver(client, doc)
        retried = await deliver(client, {**doc, "attempt_count": 2})  # Recruitee's retry keeps the event id
        forged = await deliver(client, doc, secret="guessed")
        unknown = await deliver(client, {**doc, "id": 1, "event_type": "candidate_assigned", "event_subtype": None})
        events = await read_json(kafka, "ats.events")

    assert first.status_code == 202
    assert (retried.status_code, retried.json()["status"]) == (200, "duplicate")
    assert (forged.status_code, forged.json()["reason"]) == (401, "bad_signature")
    assert (unknown.status_code, unknown.json()["status"]) == (200, "ignored")
    assert [e["type"] for e in events] == ["ats.candidate.hired"]
