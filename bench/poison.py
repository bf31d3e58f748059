"""Hostile records for every topic a service reads: what the `poison` chaos scenario injects.

Every topic with a service among its readers (schemas/topics.py) gets the same catalogue: random
bytes, a key that is not UTF-8, a value that is not UTF-8, a tombstone where none is expected, a
value of 1 MB (within every topic's max.message.bytes), JSON nested 100,000 levels deep, and a
CloudEvent of the topic's own type with data of the wrong shape. `ats.events` also gets a
schema-valid interview whose `sequence` is 2**64 (out of int64 range), and `preferences.changed`
the records only a keyed, compacted topic can get wrong: a valid snapshot under a key that is not
UTF-8 or is another candidate's, a tombstone without a readable key, a snapshot on the wrong partition.

Each record names the services that must dead-letter it (all readers of its topic; a snapshot on the
wrong partition only the per-partition views, not the connector, which reads it in a group by key). The one
international address (`jörg@bücher.example`) is not poison: its events must be delivered.
Pure: deterministic for a seed; keys are poison candidates' ids, except where the victim is the point.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from schemas.ats import CandidateContact
from schemas.dispatch import DELIVER_TYPE
from schemas.inbound import INBOUND_TYPE
from schemas.partitioning import partition_for
from schemas.preferences import PREFERENCES_CHANGED_TYPE, PreferencesChangedEvent
from schemas.status import STATUS_EVENT_TYPE
from schemas.topics import (
    ATS_ACCEPTED,
    ATS_EVENTS,
    DLQ_SUFFIX,
    PREFERENCE_VERSION_HEADER,
    PREFERENCES_CHANGED,
    TOPICS,
    TOPICS_BY_NAME,
)
from services.preference.domain import first_version

SERVICES = frozenset({"preference", "router", "notifier", "connectors"})
# Readers of preferences.changed in a consumer group of their own (the connector's notes), not a per-partition
# view: a valid snapshot on another partition than its key's is input to them, not poison.
COMPACTED_IN_GROUP = frozenset({"connectors"})
ONE_MB = 1_000_000  # 1 MiB would not fit: the default max.message.bytes is 1,048,588 including the batch header
NESTING = 100_000
NOT_UTF8 = b"\xc3\x28\xa0\xa1\xff"  # a broken two-byte sequence, a lone continuation byte, 0xff
IDN_EMAIL = "jörg@bücher.example"
# A CloudEvent type each topic carries, for records of the right type and the wrong shape.
EVENT_TYPE = {
    "ats.events": "ats.stage.changed",
    "ats.accepted": "ats.stage.changed",
    "notifications.status": STATUS_EVENT_TYPE,
    "preferences.changed": PREFERENCES_CHANGED_TYPE,
    "candidate.inbound": INBOUND_TYPE,
    "candidate.events": "candidate.reply.unparsed",
    **{t.name: DELIVER_TYPE for t in TOPICS if t.name.startswith("dispatch.")},
}


def read_topics() -> list[str]:
    """Every topic one of the services reads (dead-letter topics are read by ops only)."""
    return [t.name for t in TOPICS if not t.name.endswith(DLQ_SUFFIX) and SERVICES & set(t.readers)]


def readers(topic: str) -> frozenset[str]:
    """The services that read a topic, so each must dead-letter its poison."""
    return frozenset(SERVICES & set(TOPICS_BY_NAME[topic].readers))


def grouped_inputs(service: str) -> set[str]:
    """The topics a service reads in consumer groups (preferences.changed mostly by views, without a group)."""
    compacted_in_group = service in COMPACTED_IN_GROUP
    return {t for t in read_topics() if service in readers(t) and (t != PREFERENCES_CHANGED or compacted_in_group)}


@dataclass(frozen=True)
class Poison:
    """One hostile record: where it goes, what it is, and which services must dead-letter it."""

    topic: str  # the contract's name (without the world's prefix)
    kind: str
    key: bytes | None
    value: bytes | None
    partition: int | None  # None: librdkafka's default partitioner (the ATS's topic); else explicit
    must_reach: frozenset[str]
    headers: tuple[tuple[str, bytes], ...] = ()


def contact(candidate_id: str, email: str, name: str = "Gif Tig") -> dict[str, Any]:
    """Contact data as the ATS sends it."""
    return {"id": candidate_id, "name": name, "email": email, "locale": "nl-NL", "timezone": "Europe/Amsterdam"}


def envelope(kind: str, subject: str, data: Any, now: datetime, event_id: str | None = None) -> dict[str, Any]:
    """A CloudEvent in structured JSON mode."""
    return {
        "specversion": "1.0",
        "id": event_id or f"{subject}-{kind}",
        "source": "urn:chaos:poison",
        "type": kind,
        "time": now.isoformat(),
        "subject": subject,
        "datacontenttype": "application/json",
        "data": data,
    }


def one_megabyte(kind: str, subject: str, now: datetime) -> bytes:
    """A CloudEvent of exactly ONE_MB bytes (its data padded)."""
    raw = json.dumps(envelope(kind, subject, {"padding": ""}, now)).encode()
    return json.dumps(envelope(kind, subject, {"padding": "x" * (ONE_MB - len(raw))}, now)).encode()


def not_utf8(kind: str, subject: str, now: datetime) -> bytes:
    """A CloudEvent whose text holds bytes that are not UTF-8."""
    return json.dumps(envelope(kind, subject, {"note": "@@@"}, now)).encode().replace(b"@@@", NOT_UTF8)


def snapshot_value(candidate_id: str, now: datetime, version: int | None = None) -> bytes:
    """A valid preferences.changed value: a new profile's snapshot (at `version` if given)."""
    person = CandidateContact.model_validate(contact(candidate_id, f"{candidate_id.lower()}@example.net"))
    snapshot = first_version(person, now).snapshot
    if version is not None:
        snapshot = snapshot.model_copy(update={"version": version})
    return PreferencesChangedEvent.of(snapshot).model_dump_json().encode()


def generic(
    topic: str, subject: str, rng: random.Random, now: datetime
) -> list[tuple[str, bytes | None, bytes | None]]:
    """(kind, key, value) of the catalogue every read topic gets."""
    kind, key = EVENT_TYPE[topic], subject.encode()
    bad_key_value = (
        snapshot_value(subject, now)  # the key is part of the contract here: only the key is wrong
        if topic == PREFERENCES_CHANGED
        else json.dumps(envelope(kind, subject, {}, now)).encode()
    )
    records: list[tuple[str, bytes | None, bytes | None]] = [
        ("random_bytes", key, b"\x00" + rng.randbytes(511)),  # NUL first: never valid JSON, whatever follows
        ("invalid_utf8_key", NOT_UTF8 + key, bad_key_value),
        ("invalid_utf8_value", key, not_utf8(kind, subject, now)),
        ("one_megabyte", key, one_megabyte(kind, subject, now)),
        ("deep_json", key, b"[" * NESTING + b"]" * NESTING),
        ("wrong_shape", key, json.dumps(envelope(kind, subject, [1, 2, 3], now)).encode()),
    ]
    if topic != PREFERENCES_CHANGED:  # there a tombstone is an erasure, not poison
        records.append(("tombstone", key, None))
    return records


def int64_overflow(subject: str, now: datetime) -> bytes:
    """A schema-valid ats.interview.scheduled except for `interview.sequence` = 2**64."""
    start = now + timedelta(days=3)
    data = {
        "candidate": contact(subject, f"{subject.lower()}@example.net"),
        "application": {"id": f"app-{subject}", "job_title": "Monteur", "stage": "interview"},
        "interview": {
            "id": f"iv-{subject}",
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "location": "Utrecht",
            "sequence": 2**64,
        },
    }
    return json.dumps(envelope("ats.interview.scheduled", subject, data, now)).encode()


def compacted_extras(
    names: list[str], victim: str, partitions: int, now: datetime
) -> list[tuple[str, bytes | None, bytes | None, int]]:
    """(kind, key, value, partition) of the records only preferences.changed can get wrong."""
    bad, wrong, other = names
    return [
        ("tombstone_invalid_key", NOT_UTF8 + bad.encode(), None, partition_for(bad, partitions)),
        # Newer than anything the victim has: a view that trusted it would mail the victim's messages elsewhere.
        ("key_mismatch", victim.encode(), snapshot_value(other, now, 2**62), partition_for(victim, partitions)),
        (
            "wrong_partition",
            wrong.encode(),
            snapshot_value(wrong, now),
            (partition_for(wrong, partitions) + 1) % partitions,
        ),
    ]


def orphan(subject: str, partitions: int, now: datetime) -> Poison:
    """A valid event on ats.accepted for a candidate no snapshot was ever written for.

    The router decides the batch's other candidates at once, reads the orphan's partition of
    preferences.changed to its end, and dead-letters it as snapshot_missing: nobody else waits.
    """
    application = {"id": f"app-{subject}", "job_title": "Monteur", "stage": "screening"}
    data = {"candidate": contact(subject, f"{subject.lower()}@example.net"), "application": application}
    value = json.dumps(envelope("ats.stage.changed", subject, data, now)).encode()
    headers = ((PREFERENCE_VERSION_HEADER, b"1"), ("content-type", b"application/cloudevents+json"))
    return Poison(
        ATS_ACCEPTED,
        "orphan_event",
        subject.encode(),
        value,
        partition_for(subject, partitions),
        readers(ATS_ACCEPTED),
        headers,
    )


def catalogue(
    prefix: str, partitions: int, victim: str, now: datetime, seed: int = 29, with_orphan: bool = False
) -> list[Poison]:
    """Every poison record for every read topic; `victim` is a real candidate whose key a snapshot borrows."""
    rng, out, n = random.Random(seed), list[Poison](), 0

    def name() -> str:
        nonlocal n
        n += 1
        return f"{prefix}p{n:04d}"

    def place(topic: str, key: bytes | None, index: int) -> int | None:
        if topic == ATS_EVENTS:
            return None
        try:
            return partition_for((key or b"").decode(), partitions)
        except UnicodeDecodeError:
            return index % partitions  # no candidate to place it by: spread such records over the partitions

    for topic in read_topics():
        must = readers(topic)
        for kind, key, value in generic(topic, name(), rng, now):
            out.append(Poison(topic, kind, key, value, place(topic, key, len(out)), must))
        if topic == ATS_EVENTS:
            subject = name()
            out.append(Poison(topic, "int64_overflow", subject.encode(), int64_overflow(subject, now), None, must))
        if topic == PREFERENCES_CHANGED:
            for kind, key, value, partition in compacted_extras([name(), name(), name()], victim, partitions, now):
                reach = must - COMPACTED_IN_GROUP if kind == "wrong_partition" else must
                out.append(Poison(topic, kind, key, value, partition, reach))
    return [*out, orphan(name(), partitions, now)] if with_orphan else out


def idn_events(prefix: str, now: datetime) -> list[dict[str, Any]]:
    """Events of a candidate with an internationalised address: to be delivered (A-label domain, SMTPUTF8)."""
    cid = f"{prefix}idn"
    person = contact(cid, IDN_EMAIL, "Jörg Bücher")
    application = {"id": f"app-{cid}", "job_title": "Monteur", "stage": "screening"}
    return [
        envelope(kind, cid, {"candidate": person, "application": application}, now, f"{prefix}-idn-{i}")
        for i, kind in enumerate(("ats.application.received", "ats.stage.changed"))
    ]


def poison_addresses(receipts: Sequence[dict[str, Any]], prefix: str) -> int:
    """Mails the sink received for poison candidates (none may get through as a valid event)."""
    marker = f"{prefix}p".lower()
    return sum(1 for m in receipts if any(r.lower().startswith(marker) for r in m["rcpt_tos"]))
