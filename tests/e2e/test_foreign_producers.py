"""Routing by candidate, whatever partition an ATS record arrives on.

The same script of ATS events runs four times against the whole pipeline, each time produced by
librdkafka (confluent-kafka) in a different way: its Java-compatible murmur2 partitioner (the
reference, which our own clients also use), its default partitioner (CRC32, the one most ATS
integrations get), an explicit random partition per record, and keyless records whose `subject`
names the candidate. The router's decisions must be identical: the channel each candidate chose,
the quiet-hours hold, the fallback after a failed SMS, STOP, and the erased candidate's suppression.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from schemas.partitioning import partition_for
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from services.common.kafka import create_topics, delete_prefixed_topics
from services.common.settings import KafkaSettings, MongoSettings
from tests.notifier.provider_doubles import emulator
from tests.stacks import Running, services_running
from tests.support import Clock, ats_event, eventually, produce, read_json, zone_at

KEY = {"X-API-Key": "dev-only-api-key"}
NOW = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 22:30 in Amsterdam: quiet hours there
DAYTIME = zone_at(13, NOW)
ROUTER_STATES = {"queued", "held", "cancelled", "needs_recruiter", "suppressed"}
PRODUCERS: dict[str, dict[str, Any]] = {
    "murmur2": {"partitioner": "murmur2_random"},
    "librdkafka-default": {"partitioner": "consistent_random"},
    "random-partition": {"partitioner": "random"},
    "keyless": {"partitioner": "random", "keyed": False},
}
# label: (phone, timezone, channel order chosen, consent revoked afterwards, erased)
CANDIDATES: dict[str, tuple[str | None, str, list[str] | None, str | None, bool]] = {
    "sms": ("+31612345601", DAYTIME, ["sms", "email"], None, False),
    "quiet": ("+31612345603", "Europe/Amsterdam", ["sms", "email"], None, False),
    "stop": ("+31612345604", DAYTIME, ["sms", "email"], "sms", False),
    "fallback": ("+31612340001", DAYTIME, ["sms", "email"], None, False),  # the emulator refuses this number
    "default": (None, DAYTIME, None, None, False),
    "erased": ("+31612345606", DAYTIME, ["sms", "email"], None, True),
}
EVENTS_PER_CANDIDATE = 3


def cid_of(unique: str, label: str) -> str:
    return f"{unique}-{label}"


async def prepare(stack: Running, kafka: KafkaSettings, unique: str) -> None:
    """Profiles from the ATS, then each candidate's own choices through the API (acknowledged = published)."""
    first = [
        ats_event("ats.application.received", cid_of(unique, label), phone=phone, opt_ins=("sms",), timezone=tz)
        for label, (phone, tz, *_) in CANDIDATES.items()
    ]
    await produce(kafka, ATS_EVENTS, first)
    for label, (_, _, order, revoke, erase) in CANDIDATES.items():
        cid = cid_of(unique, label)

        async def exists(cid: str = cid) -> bool:
            return (await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 200

        await eventually(exists, what=f"profile {label}")
        if order:
            r = await stack.preference.patch(
                f"/v1/candidates/{cid}/preferences", headers=KEY, json={"channel_order": order}
            )
            assert r.status_code == 200, r.text
        if revoke:
            body = {"channel": revoke, "state": "revoked", "source": "reply", "evidence": "STOP"}
            assert (await stack.preference.post(f"/v1/candidates/{cid}/consent", headers=KEY, json=body)).is_success
        if erase:
            assert (await stack.preference.delete(f"/v1/candidates/{cid}", headers=KEY)).status_code == 200


def script(unique: str) -> list[dict[str, Any]]:
    """The events under test, interleaved across candidates (ids differ per run; labels and order do not)."""
    events = []
    for n in range(EVENTS_PER_CANDIDATE):
        for label, (phone, tz, *_) in CANDIDATES.items():
            cid = cid_of(unique, label)
            ev = ats_event("ats.stage.changed", cid, phone=phone, opt_ins=("sms",), timezone=tz, stage="screening")
            ev["id"] = f"{unique}:{label}:{n}"
            events.append(ev)
    return events


def decisions_of(statuses: list[dict[str, Any]], unique: str) -> Counter[tuple[str, ...]]:
    """Router decisions per scripted event, without the run's ids: (candidate, event n, state, channel, attempt)."""
    out: Counter[tuple[str, ...]] = Counter()
    for s in statuses:
        if not s["ats_event_id"].startswith(f"{unique}:") or s["status"] not in ROUTER_STATES:
            continue
        _, label, n = s["ats_event_id"].rsplit(":", 2)
        out[(label, n, s["status"], s["channel"] or "-", str(s["attempt"]))] += 1
    return out


@asynccontextmanager
async def own_topics_and_database(
    kafka: KafkaSettings, mongo: MongoSettings, unique: str
) -> AsyncIterator[tuple[KafkaSettings, MongoSettings]]:
    """Each run its own topics and database, so no run reads another's records."""
    k = kafka.model_copy(update={"topic_prefix": f"{unique}."})
    m = mongo.model_copy(update={"database": unique})
    await create_topics(k)
    try:
        yield k, m
    finally:
        await delete_prefixed_topics(k)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(m.url.get_secret_value())
        await client.drop_database(unique)
        await client.close()


async def run_script(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, producer: dict[str, Any]
) -> Counter[tuple[str, ...]]:
    """Prepare the candidates, produce the script with one producer, wait for every decision."""
    async with (
        own_topics_and_database(kafka, mongo, unique) as (kafka, mongo),
        emulator(tmp_path / "provider") as (url, _),
        services_running(kafka, mongo, tmp_path, unique, clock=Clock(NOW), notifier={"provider_base_url": url}) as st,
    ):
        await prepare(st, kafka, unique)
        events = script(unique)
        placed = await produce(kafka, ATS_EVENTS, events, **producer)
        elsewhere = sum(
            p != partition_for(e["subject"], kafka.partitions) for e, (p, _) in zip(events, placed, strict=True)
        )
        if producer["partitioner"] != "murmur2_random":  # the case under test really happened
            assert elsewhere, "every record landed on its candidate's own partition: nothing was proven"
        expected_events = len(CANDIDATES) * EVENTS_PER_CANDIDATE

        async def all_decided() -> Counter[tuple[str, ...]] | None:
            found = decisions_of([e["data"] for e in await read_json(kafka, NOTIFICATIONS_STATUS)], unique)
            decided = {(label, n) for label, n, *_ in found}
            fallbacks = sum(c for (label, _, st_, _, attempt), c in found.items() if attempt == "2")
            return found if len(decided) == expected_events and fallbacks == EVENTS_PER_CANDIDATE else None

        return await eventually(all_decided, timeout=60, what="a decision for every event, and every fallback")


@pytest.mark.timeout(300)
async def test_decisions_do_not_depend_on_how_the_ats_partitions(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    runs = {
        name: await run_script(kafka, mongo, tmp_path / name, f"{unique}{i}", producer)
        for i, (name, producer) in enumerate(PRODUCERS.items())
    }
    reference = runs.pop("murmur2")
    for name, decisions in runs.items():
        assert decisions == reference, name

    per = {label: {(st, ch, att) for (lb, _, st, ch, att) in reference if lb == label} for label in CANDIDATES}
    assert per["sms"] == {("queued", "sms", "1")}, "the candidate's SMS choice holds"
    assert per["quiet"] == {("held", "sms", "1")}, "quiet hours hold the SMS overnight"
    assert per["stop"] == {("queued", "email", "1")}, "after STOP nothing is even queued by SMS"
    assert per["fallback"] == {("queued", "sms", "1"), ("queued", "email", "2")}, "a failed SMS falls back"
    assert per["default"] == {("queued", "email", "1")}
    assert per["erased"] == {("suppressed", "-", "1")}, "an erased candidate's events are suppressed"
