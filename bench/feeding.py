"""What the services upstream would have written, for stages that run one service alone.

In production the router is fed by the preference service: a candidate's snapshot on
`preferences.changed` first, then the ATS event, the same bytes, on `ats.accepted` with the header
`preference.version` naming that snapshot; both on the candidate's own partition (schemas/partitioning.py).
The notifier is fed by the router on `dispatch.<channel>` and reads the same snapshots. The bench writes
those records with the contract's models, the preference service's own pure function for a new
profile (`first_version`) and the same partition rule, so a service alone sees its production input.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from bench.foreign import ForeignProducer
from bench.generator import Scripted
from schemas.ats import CandidateContact
from schemas.common import Channel, Stage
from schemas.dispatch import DeliverMessage, DeliverMessageCommand, MessageContext
from schemas.partitioning import partition_for
from schemas.preferences import PreferencesChangedEvent
from schemas.topics import ATS_ACCEPTED, PREFERENCE_VERSION_HEADER, PREFERENCES_CHANGED, dispatch_topic
from services.common.settings import KafkaSettings
from services.preference.domain import first_version

CLOUDEVENTS = ("content-type", b"application/cloudevents+json")


def contacts(script: Iterable[Scripted]) -> list[CandidateContact]:
    """Each candidate of a script once, with the contact data of their last event (what the profile holds)."""
    latest = {s.candidate_id: json.loads(s.value)["data"]["candidate"] for s in script}
    return [CandidateContact.model_validate(c) for c in latest.values()]


async def write_snapshots(
    producer: ForeignProducer, kafka: KafkaSettings, people: Iterable[CandidateContact], now: datetime
) -> dict[str, int]:
    """Version 1 of each candidate's profile on preferences.changed, acknowledged; candidate -> version."""
    topic = kafka.topic(PREFERENCES_CHANGED)
    versions: dict[str, int] = {}
    for person in people:
        snapshot = first_version(person, now).snapshot
        await producer.send(
            topic,
            PreferencesChangedEvent.of(snapshot).model_dump_json().encode(),
            person.id.encode(),
            partition=partition_for(person.id, kafka.partitions),
            headers=[(PREFERENCE_VERSION_HEADER, str(snapshot.version).encode())],
        )
        versions[person.id] = snapshot.version
    await producer.flush()
    return versions


async def write_accepted(
    producer: ForeignProducer, kafka: KafkaSettings, script: Iterable[Scripted], versions: dict[str, int]
) -> int:
    """The script's events on ats.accepted as the preference service forwards them; how many."""
    topic, count = kafka.topic(ATS_ACCEPTED), 0
    for s in script:
        version = str(versions[s.candidate_id]).encode()
        await producer.send(
            topic,
            s.value,
            s.candidate_id.encode(),
            partition=partition_for(s.candidate_id, kafka.partitions),
            headers=[(PREFERENCE_VERSION_HEADER, version), CLOUDEVENTS],
        )
        count += 1
    await producer.flush()
    return count


def email_command(n: int, person: CandidateContact, version: int, now: datetime) -> DeliverMessageCommand:
    """The router's command to e-mail a stage update to `person` (notification id unique per n)."""
    nid = f"00000000-0000-5000-8000-{n:012d}"
    message = DeliverMessage(
        notification_id=nid,
        ats_event_id=f"e{n}",
        candidate_id=person.id,
        channel=Channel.EMAIL,
        stage=Stage.SCREENING,
        template="stage_update",
        language="nl",
        to=person.email,
        context=MessageContext(candidate_name=person.name, job_title="Monteur"),
        event_time=now,
        decided_at=now,
        preference_version=version,
    )
    return DeliverMessageCommand(id=nid, time=now, subject=person.id, data=message)


async def write_commands(
    producer: ForeignProducer,
    kafka: KafkaSettings,
    people: list[CandidateContact],
    versions: dict[str, int],
    count: int,
    now: datetime,
) -> None:
    """`count` e-mail commands over `people` (round robin) on dispatch.email, on each candidate's partition."""
    topic = kafka.topic(dispatch_topic(Channel.EMAIL))
    for n in range(count):
        person = people[n % len(people)]
        await producer.send(
            topic,
            email_command(n, person, versions[person.id], now).model_dump_json().encode(),
            person.id.encode(),
            partition=partition_for(person.id, kafka.partitions),
        )
    await producer.flush()
