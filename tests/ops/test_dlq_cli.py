"""The dead-letter CLI against the real broker: list without payloads, redrive selected records once."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from schemas.envelope import DecodeError
from schemas.topics import ATS_EVENTS
from services.common.dlq_cli import REDRIVEN_FROM, run
from services.common.kafka import DeadLetters, make_broker
from services.common.settings import KafkaSettings
from tests.ops.dashboards import ROOT
from tests.support import read_topic

pytestmark = pytest.mark.integration
SECRET = b'{"id": 1, "candidate": "sanne@example.org"'  # personal data in a payload


@dataclass
class Consumed:
    """A record as a consumer saw it (what DeadLetters needs)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


async def dead_letter(kafka: KafkaSettings) -> None:
    """Three dead letters: one bad record seen by two groups (router, preference), one invalid record."""
    broker = make_broker(kafka, CollectorRegistry(), "test")
    await broker.start()
    try:
        topic = kafka.topic(ATS_EVENTS)
        bad = Consumed(topic, 0, 7, b"cand-1", SECRET)
        wrong = Consumed(topic, 1, 3, b"cand-2", b'{"specversion": "1.0"}')
        for group in ("router", "preference"):
            await DeadLetters(broker, group).send(
                bad, DecodeError("malformed_json", "not valid JSON (JSONDecodeError)")
            )
        await DeadLetters(broker, "router").send(wrong, DecodeError("invalid_envelope", "id: Field required"))
    finally:
        await broker.stop()


async def cli(kafka: KafkaSettings, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    status = await run(list(argv), kafka, out)
    return status, out.getvalue()


async def test_list_shows_where_and_why_but_no_payload_unless_asked(kafka: KafkaSettings) -> None:
    await dead_letter(kafka)
    status, text = await cli(kafka, "list", "--topic", ATS_EVENTS)
    assert status == 0 and "3 dead letter(s)" in text
    assert "kind=malformed_json" in text and "consumer=preference" in text and "consumer=router" in text
    assert f"from={kafka.topic(ATS_EVENTS)} p0@7" in text and "reason='id: Field required'" in text
    assert "sanne@example.org" not in text
    _, shown = await cli(kafka, "list", "--topic", ATS_EVENTS, "--kind", "malformed_json", "--show-value")
    assert shown.count("sanne@example.org") == 2 and "2 dead letter(s)" in shown


async def test_redrive_by_kind_writes_each_original_record_back_once(kafka: KafkaSettings) -> None:
    await dead_letter(kafka)
    status, text = await cli(kafka, "redrive", "--topic", ATS_EVENTS, "--kind", "malformed_json")
    assert status == 0
    assert "redriven 1/1:" in text and "redriven: 1 record(s) of 2 dead letter(s)" in text
    records = [r for r in await read_topic(kafka, ATS_EVENTS) if r.value == SECRET]
    assert len(records) == 1 and records[0].key == b"cand-1"
    assert dict(records[0].headers)[REDRIVEN_FROM].startswith(f"{kafka.topic(ATS_EVENTS)}.dlq:".encode())


async def test_redrive_by_offset_range_and_dry_run(kafka: KafkaSettings) -> None:
    await dead_letter(kafka)
    _, listed = await cli(kafka, "list", "--topic", ATS_EVENTS, "--kind", "invalid_envelope")
    position = listed.split()[1]  # "p<partition>@<offset>"
    partition, offset = position[1:].split("@")
    args = ["--topic", ATS_EVENTS, "--partition", partition, "--from-offset", offset, "--to-offset", offset]
    status, text = await cli(kafka, "redrive", *args, "--dry-run")
    assert status == 0 and "would redrive 1/1" in text
    assert not [r for r in await read_topic(kafka, ATS_EVENTS) if r.key == b"cand-2"]
    await cli(kafka, "redrive", *args)
    assert [r.value for r in await read_topic(kafka, ATS_EVENTS) if r.key == b"cand-2"] == [b'{"specversion": "1.0"}']


async def test_redrive_refuses_to_run_without_a_selection(kafka: KafkaSettings) -> None:
    assert (await cli(kafka, "redrive", "--topic", ATS_EVENTS))[0] == 2


def test_the_module_runs_from_the_command_line(kafka: KafkaSettings) -> None:
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers, "KAFKA_TOPIC_PREFIX": kafka.topic_prefix}
    result = subprocess.run(
        [sys.executable, "-m", "services.common.dlq_cli", "list", "--topic", "notifications.status"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0 dead letter(s)"
