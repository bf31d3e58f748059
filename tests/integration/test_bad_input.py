"""Bad input on ats.events: every kind goes to ats.events.dlq with a reason free of personal data,
a counter goes up, and the next good record is processed and committed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient

from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, dlq_topic
from services.common.kafka import DLQ_ERROR_KIND, DLQ_ERROR_REASON, DLQ_ORIGINAL_OFFSET
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_topic

CANARY_EMAIL = "canary-dlq-4711@example.org"
CANARY_NAME = "Canary Person 4711"


def bad_records(candidate: str) -> dict[str, bytes]:
    """One record per kind of bad input, each carrying canary personal data."""
    good = ats_event("ats.interview.scheduled", candidate, email=CANARY_EMAIL)
    good["data"]["candidate"]["name"] = CANARY_NAME
    wrong_envelope = {k: v for k, v in good.items() if k != "specversion"} | {"time": "yesterday"}
    unknown_type = good | {"type": "ats.candidate.teleported"}
    invalid_data = json.loads(json.dumps(good))
    invalid_data["data"]["interview"]["start"] = "not a time"
    invalid_data["data"]["candidate"]["phone"] = "+31 6 CANARY"
    huge = good | {"data": good["data"] | {"padding": "x" * (1024 * 1024)}}
    return {
        "malformed_json": b'{"specversion": "1.0", "id": ' + CANARY_EMAIL.encode(),
        "invalid_envelope": json.dumps(wrong_envelope).encode(),
        "unknown_type": json.dumps(unknown_type).encode(),
        "invalid_data": json.dumps(invalid_data).encode(),
        "payload_too_large": json.dumps(huge).encode(),
    }


async def test_each_kind_of_bad_input_is_dead_lettered_and_the_next_good_event_is_processed(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    candidate = f"{unique}-bad"
    bad = bad_records(candidate)
    good = ats_event("ats.interview.scheduled", candidate, email="good@example.org")
    async with services_running(kafka, mongo, tmp_path, unique) as stack:
        await produce(kafka, ATS_EVENTS, [*bad.values(), good], key=candidate, max_request_size=2 * 1024 * 1024)

        await eventually(lambda: _mail_to(stack.mails, "good@example.org"), what="the good event's e-mail")
        dead = await eventually(lambda: _dead_letters(kafka, expected=len(bad)), what="dead letters")

        # The one reader of ats.events (the preference service, the single entry) dead-letters each bad record once.
        by_kind: dict[str, list[dict[str, str]]] = {}
        for headers in dead:
            by_kind.setdefault(headers[DLQ_ERROR_KIND], []).append(headers)
        assert {k: len(v) for k, v in by_kind.items()} == dict.fromkeys(bad, 1)
        for headers in dead:
            text = json.dumps(headers)
            assert CANARY_EMAIL not in text and CANARY_NAME not in text and "CANARY" not in text
            assert headers[DLQ_ERROR_REASON]
        assert "data.interview.start" in by_kind["invalid_data"][0][DLQ_ERROR_REASON]
        assert by_kind["payload_too_large"][0][DLQ_ORIGINAL_OFFSET] == "4"

        metrics = (await stack.preference.get("/metrics")).text
        assert 'dlq_records_total{kind="malformed_json"' in metrics

        # The good record's offset (5) was committed on ats.events, and the one record forwarded for it on
        # ats.accepted by the router: nothing is reprocessed after a restart, nothing bad went further.
        committed = await eventually(lambda: _committed(kafka, unique), what="committed offsets")
        assert committed == {"preference": 6, "router": 1}


async def _mail_to(read: Any, address: str) -> list[dict[str, Any]]:
    return [m for m in read() if m["rcpt_tos"] == [address]]


async def _dead_letters(kafka: KafkaSettings, expected: int) -> list[dict[str, str]] | None:
    records = await read_topic(kafka, dlq_topic(ATS_EVENTS))
    if len(records) < expected:
        return None
    return [{k: v.decode() for k, v in r.headers} for r in records]


async def _committed(kafka: KafkaSettings, unique: str) -> dict[str, int] | None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        out = {}
        for group, topic in (("preference", ATS_EVENTS), ("router", ATS_ACCEPTED)):
            offsets = await admin.list_consumer_group_offsets(f"{unique}.{group}")
            ats = [md.offset for tp, md in offsets.items() if tp.topic == kafka.topic(topic) and md.offset > 0]
            out[group] = max(ats, default=0)
        return out if out == {"preference": 6, "router": 1} else None
    finally:
        await admin.close()
