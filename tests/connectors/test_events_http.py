"""POST /v1/events: the CloudEvents HTTP binding in structured, batched and binary mode, through real Kafka.

202 only once the events are on ats.events (keyed by candidate); 400 with field-level reasons and nothing
produced when any event is invalid.
"""

from __future__ import annotations

import json

from services.common.settings import KafkaSettings
from tests.connectors.conftest import ConnectorFactory
from tests.support import ats_event, read_topic


async def _on_topic(kafka: KafkaSettings) -> list[tuple[str, dict[str, object]]]:
    return [(r.key.decode(), json.loads(r.value)) for r in await read_topic(kafka, "ats.events") if r.key and r.value]


async def test_structured_batched_and_binary_events_are_on_the_topic_when_answered(
    connector: ConnectorFactory, kafka: KafkaSettings, unique: str
) -> None:
    one = ats_event("ats.application.received", f"{unique}-a")
    two, three = (ats_event("ats.stage.changed", f"{unique}-{n}", stage="screening") for n in "bc")
    binary = ats_event("ats.interview.scheduled", f"{unique}-d")
    async with connector() as client:
        structured = await client.post(
            "/v1/events", content=json.dumps(one), headers={"Content-Type": "application/cloudevents+json"}
        )
        batched = await client.post(
            "/v1/events",
            content=json.dumps([two, three]),
            headers={"Content-Type": "application/cloudevents-batch+json; charset=utf-8"},
        )
        attributes = {f"ce-{k}": str(v) for k, v in binary.items() if k not in ("data", "datacontenttype")}
        binary_mode = await client.post(
            "/v1/events",
            content=json.dumps(binary["data"]),
            headers={"Content-Type": "application/json", **attributes},
        )
        # Answered 202 means acknowledged by the broker: the records are readable right away, no polling.
        on_topic = await _on_topic(kafka)

    assert [structured.status_code, batched.status_code, binary_mode.status_code] == [202, 202, 202]
    assert batched.json() == {"accepted": [two["id"], three["id"]]}
    by_id = {value["id"]: (key, value) for key, value in on_topic}
    assert set(by_id) == {one["id"], two["id"], three["id"], binary["id"]}
    assert by_id[one["id"]] == (one["subject"], one)
    key, value = by_id[binary["id"]]
    assert key == binary["subject"]
    assert value["data"] == binary["data"]
    assert value["type"] == "ats.interview.scheduled"


async def test_one_invalid_event_rejects_the_batch_with_field_reasons_and_nothing_is_produced(
    connector: ConnectorFactory, kafka: KafkaSettings, unique: str
) -> None:
    good = ats_event("ats.application.received", f"{unique}-a")
    bad = ats_event("ats.interview.scheduled", f"{unique}-b", email="sanne@example.org")
    bad["data"]["interview"]["start"] = "next tuesday"
    bad["data"]["candidate"]["phone"] = 31612345678  # a number, not a string
    async with connector() as client:
        answer = await client.post(
            "/v1/events",
            content=json.dumps([good, bad]),
            headers={"Content-Type": "application/cloudevents-batch+json"},
        )
        unknown_type = await client.post(
            "/v1/events",
            content=json.dumps({**good, "type": "ats.candidate.teleported"}),
            headers={"Content-Type": "application/cloudevents+json"},
        )
        no_mode = await client.post("/v1/events", content=json.dumps(good), headers={"Content-Type": "text/plain"})
        huge = await client.post(
            "/v1/events",
            content=b"[" + b" " * 300_000 + b"]",
            headers={"Content-Type": "application/cloudevents-batch+json"},
        )
        on_topic = await _on_topic(kafka)

    assert answer.status_code == 400
    fields = {(e["index"], e["field"]) for e in answer.json()["errors"]}
    assert fields == {(1, "data.interview.start"), (1, "data.candidate.phone")}
    assert "next tuesday" not in answer.text  # reasons never echo input values
    assert unknown_type.status_code == 400
    assert unknown_type.json()["errors"][0]["field"] == "(root)"
    assert no_mode.status_code == 415
    assert huge.status_code == 413
    assert on_topic == []
