"""Correlation ids in the JSON logs: bound while a record is handled, carried by the correlation_id header."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog
from faststream.kafka import KafkaBroker, TestKafkaBroker

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES
from schemas.common import Channel, PurposeClass, Stage
from schemas.dispatch import DeliverMessage, DeliverMessageCommand, MessageContext
from schemas.envelope import EventDecoder
from services.common.consuming import subscribe_batch
from services.common.kafka import DeadLetters
from services.common.logs import MAX_BOUND_IDS, configure_logging, correlation_ids
from tests.support import ats_event

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
log = logging.getLogger("tests.ops.handler")


@pytest.fixture
def json_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The project's logging configuration, writing to a buffer instead of stdout; restored afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    with monkeypatch.context() as patched:
        patched.setattr(sys, "stdout", out)
        configure_logging("test")
    read = 0

    def lines() -> list[dict[str, Any]]:
        nonlocal read
        text = out.getvalue()
        new, read = text[read:], len(text)
        return [json.loads(line) for line in new.splitlines() if line.startswith("{")]

    yield lines
    root.handlers[:], level = saved
    root.setLevel(level)
    structlog.reset_defaults()


def command(notification_id: str) -> DeliverMessageCommand:
    msg = DeliverMessage(
        notification_id=notification_id,
        ats_event_id="ats-1",
        candidate_id="cand-1",
        channel=Channel.EMAIL,
        stage=Stage.APPLICATION,
        purpose_class=PurposeClass.APPLICATION,
        template="application_received",
        context=MessageContext(candidate_name="Sanne", job_title="Data engineer"),
        language="nl",
        event_time=NOW,
        decided_at=NOW,
        preference_version=1,
    )
    return DeliverMessageCommand(id=notification_id, time=NOW, subject="cand-1", data=msg)


def test_one_record_binds_its_ids_and_a_batch_binds_capped_lists() -> None:
    assert correlation_ids([command("n-1")], ["n-1"]) == {"event_id": "n-1", "notification_id": "n-1"}
    many = [command(f"n-{i}") for i in range(MAX_BOUND_IDS + 5)]
    ids = correlation_ids(many, ["upstream-1"])
    assert len(ids["event_ids"]) == MAX_BOUND_IDS and len(ids["notification_ids"]) == MAX_BOUND_IDS
    assert ids["correlation_id"] == "upstream-1" and ids["batch_size"] == MAX_BOUND_IDS + 5


async def test_log_lines_of_a_handled_record_carry_its_event_id_and_mask_contact_data(json_logs: Any) -> None:
    broker = KafkaBroker()

    async def handle(batch: list[Any]) -> None:
        _, event = batch[0]
        log.info("handling", extra={"to": event.data.candidate.email, "phone": event.data.candidate.phone})

    subscribe_batch(
        broker,
        ["ats.events"],
        group_id="g",
        decoder=EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000),
        dead_letters=DeadLetters(broker, "g"),
        handle=handle,
    )
    event = ats_event("ats.application.received", "cand-1", email="sanne@example.org", phone="+31612345678")
    async with TestKafkaBroker(broker) as br:
        await br.publish(json.dumps(event).encode(), "ats.events", key=b"cand-1", correlation_id=event["id"])
    line = next(x for x in json_logs() if x["event"] == "handling")
    assert line["event_id"] == event["id"] and line["service"] == "test"
    assert line["to"] == "<email>" and line["phone"] == "+31*********"
    assert "sanne@example.org" not in json.dumps(line)
    log.info("after the batch")
    assert "event_id" not in next(x for x in json_logs() if x["event"] == "after the batch")
