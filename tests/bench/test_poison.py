"""The poison catalogue: every topic a service reads gets every kind, and each record has exactly its defect."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from bench.poison import (
    IDN_EMAIL,
    NESTING,
    NOT_UTF8,
    ONE_MB,
    SERVICES,
    Poison,
    catalogue,
    grouped_inputs,
    idn_events,
    int64_overflow,
    poison_addresses,
    read_topics,
)
from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES
from schemas.candidate_events import CANDIDATE_EVENT_ADAPTER, CANDIDATE_EVENT_TYPES
from schemas.dispatch import DISPATCH_ADAPTER, DISPATCH_TYPES
from schemas.envelope import DecodeError, EventDecoder
from schemas.inbound import INBOUND_ADAPTER, INBOUND_TYPES
from schemas.partitioning import partition_for
from schemas.preferences import PREFERENCES_EVENT_ADAPTER
from schemas.status import STATUS_ADAPTER, STATUS_TYPES
from schemas.topics import PREFERENCES_CHANGED, TOPICS_BY_NAME, dlq_topic

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
GENERIC = {"random_bytes", "invalid_utf8_key", "invalid_utf8_value", "one_megabyte", "deep_json", "wrong_shape"}
LIMIT = 256 * 1024  # the services' default max_event_bytes
DECODERS: dict[str, EventDecoder[object]] = {
    "ats.events": EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, LIMIT),
    "ats.accepted": EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, LIMIT),
    "notifications.status": EventDecoder(STATUS_ADAPTER, STATUS_TYPES, LIMIT),
    "candidate.inbound": EventDecoder(INBOUND_ADAPTER, INBOUND_TYPES, LIMIT),
    "candidate.events": EventDecoder(CANDIDATE_EVENT_ADAPTER, CANDIDATE_EVENT_TYPES, LIMIT),
}


@pytest.fixture(scope="module")
def records() -> list[Poison]:
    return catalogue("w1.", 6, "w1.c0000004", NOW)


def by_topic(records: list[Poison]) -> dict[str, dict[str, Poison]]:
    out: dict[str, dict[str, Poison]] = defaultdict(dict)
    for p in records:
        assert p.kind not in out[p.topic], f"two {p.kind} on {p.topic}"
        out[p.topic][p.kind] = p
    return out


def test_every_topic_a_service_reads_is_poisoned_with_every_kind(records: list[Poison]) -> None:
    topics = by_topic(records)
    assert set(topics) == set(read_topics())
    # The contract's own list: every input of a service, internal ones included.
    assert {"ats.events", "ats.accepted", "preferences.changed", "notifications.status"} <= set(topics)
    assert sum(t.startswith("dispatch.") for t in topics) == 5
    for topic, kinds in topics.items():
        assert set(kinds) >= GENERIC, topic
        assert ("tombstone" in kinds) == (topic != PREFERENCES_CHANGED)  # there a tombstone is an erasure
    assert set(topics["ats.events"]) - GENERIC == {"tombstone", "int64_overflow"}
    assert set(topics[PREFERENCES_CHANGED]) - GENERIC == {"tombstone_invalid_key", "key_mismatch", "wrong_partition"}


def test_every_reader_must_dead_letter_its_topics_poison(records: list[Poison]) -> None:
    for p in records:
        readers = set(TOPICS_BY_NAME[p.topic].readers) & SERVICES  # the services the scenario runs
        if p.kind == "wrong_partition":  # garbage to a per-partition view; the connector reads by key
            assert p.must_reach == readers - {"connectors"} and "router" in p.must_reach
        else:
            assert p.must_reach == readers
    status = next(p for p in records if p.topic == "notifications.status")
    assert status.must_reach == {"preference", "router", "notifier", "connectors"}
    snapshot = next(p for p in records if p.topic == PREFERENCES_CHANGED and p.kind == "key_mismatch")
    assert "connectors" in snapshot.must_reach  # a note on the wrong person must never be written
    assert grouped_inputs("router") == {"ats.accepted", "notifications.status"}  # its view has no group
    assert grouped_inputs("connectors") == {"notifications.status", PREFERENCES_CHANGED}  # both in groups


def test_the_contracts_decoders_refuse_every_event_topics_poison(records: list[Poison]) -> None:
    for p in records:
        decoder = DECODERS.get(p.topic) or EventDecoder(DISPATCH_ADAPTER, DISPATCH_TYPES, LIMIT)
        if p.topic == PREFERENCES_CHANGED:
            continue
        with pytest.raises(DecodeError):
            decoder.decode(p.value)


def test_each_kind_has_its_defect(records: list[Poison]) -> None:
    for p in records:
        if p.kind in ("invalid_utf8_key", "tombstone_invalid_key"):
            assert p.key is not None and p.key.startswith(NOT_UTF8)
            with pytest.raises(UnicodeDecodeError):
                p.key.decode()
        elif p.kind != "key_mismatch":  # that one borrows a real candidate's key on purpose
            assert p.key is not None and p.key.decode().startswith("w1.p")  # a poison candidate's id
        if p.kind == "invalid_utf8_value":
            with pytest.raises(UnicodeDecodeError):
                (p.value or b"").decode()
        if p.kind in ("tombstone", "tombstone_invalid_key"):
            assert p.value is None
        if p.kind == "deep_json":
            assert p.value == b"[" * NESTING + b"]" * NESTING
        if p.kind == "random_bytes":
            with pytest.raises(ValueError):  # not JSON, whatever the bytes after the NUL
                json.loads(p.value or b"")


def test_one_megabyte_fits_the_topic_and_its_dead_letter(records: list[Poison]) -> None:
    big = [p for p in records if p.kind == "one_megabyte"]
    assert len(big) == len(read_topics())
    for p in big:
        assert len(p.value or b"") == ONE_MB
        json.loads(p.value or b"")  # well-formed: only its size is wrong
        headroom = 2048  # batch framing, key, and the dead letter's headers (reason capped at 1,000 characters)
        for topic in (p.topic, dlq_topic(p.topic)):
            limit = int(TOPICS_BY_NAME[topic].kafka_config().get("max.message.bytes", "1048588"))
            assert ONE_MB + headroom <= limit, topic


def test_internal_poison_sits_on_its_keys_partition(records: list[Poison]) -> None:
    for p in records:
        if p.topic == "ats.events":
            assert p.partition is None  # the ATS's client picks
        elif p.kind == "wrong_partition":
            assert p.key is not None and p.partition != partition_for(p.key.decode(), 6)
        elif p.key is not None and not p.key.startswith(NOT_UTF8):
            assert p.partition == partition_for(p.key.decode(), 6)
        else:
            assert p.partition in range(6)


def test_compacted_poison_is_a_valid_snapshot_with_only_the_key_or_partition_wrong(records: list[Poison]) -> None:
    kinds = by_topic(records)[PREFERENCES_CHANGED]
    for kind in ("invalid_utf8_key", "key_mismatch", "wrong_partition"):
        snapshot = PREFERENCES_EVENT_ADAPTER.validate_json(kinds[kind].value or b"").data
        key = kinds[kind].key or b""
        if kind == "invalid_utf8_key":
            assert key == NOT_UTF8 + snapshot.candidate_id.encode()
        elif kind == "key_mismatch":
            # Under a real candidate's key, newer than anything they have: trusted, it would take their mail.
            assert key == b"w1.c0000004" and snapshot.candidate_id != "w1.c0000004"
            assert snapshot.version == 2**62
        else:
            assert key == snapshot.candidate_id.encode()


def test_the_out_of_range_sequence_is_the_only_reason_the_interview_is_refused() -> None:
    raw = int64_overflow("w1.p9", NOW)
    with pytest.raises(DecodeError, match=r"sequence") as refused:
        DECODERS["ats.events"].decode(raw)
    assert refused.value.kind == "invalid_data"
    fixed = raw.replace(str(2**64).encode(), str(2**63 - 1).encode())
    assert ATS_EVENT_ADAPTER.validate_json(fixed, strict=True).type == "ats.interview.scheduled"


def test_the_international_candidate_is_valid_input() -> None:
    events = idn_events("w1.", NOW)
    assert [e["type"] for e in events] == ["ats.application.received", "ats.stage.changed"]
    for e in events:
        parsed = ATS_EVENT_ADAPTER.validate_json(json.dumps(e), strict=True)
        assert parsed.data.candidate.email == IDN_EMAIL


def test_the_catalogue_is_deterministic() -> None:
    assert catalogue("w1.", 6, "w1.c1", NOW) == catalogue("w1.", 6, "w1.c1", NOW)
    assert catalogue("w1.", 6, "w1.c1", NOW, seed=1) != catalogue("w1.", 6, "w1.c1", NOW, seed=2)


def test_mails_to_poison_candidates_are_counted() -> None:
    receipts = [
        {"rcpt_tos": ["kandidaat3@example.org"]},
        {"rcpt_tos": ["w1.p0007@example.net"]},
        {"rcpt_tos": ["W1.P0008@example.net", "x@example.org"]},
    ]
    assert poison_addresses(receipts, "w1.") == 2
    assert poison_addresses(receipts, "w2.") == 0


def test_the_orphan_is_a_valid_event_without_a_snapshot_and_only_on_request(records: list[Poison]) -> None:
    assert all(p.kind != "orphan_event" for p in records)
    [orphan] = [p for p in catalogue("w1.", 6, "w1.c0000004", NOW, with_orphan=True) if p.kind == "orphan_event"]
    assert orphan.topic == "ats.accepted" and orphan.must_reach == {"router"}
    event = ATS_EVENT_ADAPTER.validate_json(orphan.value or b"", strict=True)  # nothing wrong with it but its timing
    assert orphan.key == event.subject.encode() and event.subject.startswith("w1.p")
    assert orphan.partition == partition_for(event.subject, 6)
    assert dict(orphan.headers)["preference.version"] == b"1"
