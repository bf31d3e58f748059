"""The single entry: every accepted ATS event goes on to the router on `ats.accepted`, re-keyed by candidate.

The ATS may have put the event on any partition of `ats.events` (its client's partitioner, a random one,
no key). Here it lands on the candidate's own partition (schemas/partitioning.py), the one their snapshot
is on, after that snapshot is acknowledged; the header says which version the router must hold first.
An erased candidate's event goes on without personal data and marked, so the router can tell the ATS
why nothing is sent (`suppressed` on notifications.status).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from faststream.kafka import KafkaBroker

from schemas.ats import AtsEvent, CandidateContact, FreeMessage, MessageRequested
from schemas.topics import ATS_ACCEPTED, PREFERENCE_VERSION_HEADER, SUPPRESSED_HEADER
from services.common.kafka import Partitioner, Record
from services.common.publishing import CandidateWave
from services.common.settings import KafkaSettings
from services.preference.service import Admission

ERASED = "(erased)"


def redacted(event: AtsEvent) -> AtsEvent:
    """The event without the candidate's personal data (what the router needs to say it was suppressed)."""
    updates: dict[str, Any] = {"candidate": CandidateContact.model_construct(id=event.subject, name=ERASED)}
    if isinstance(event, MessageRequested):  # a recruiter's free text may name the candidate
        message = event.data.message
        updates["message"] = FreeMessage.model_construct(
            subject=ERASED, body=ERASED, purpose_class=message.purpose_class
        )
    return event.model_copy(update={"data": event.data.model_copy(update=updates)})


class Forwarder:
    """Publishes accepted events to `ats.accepted` on the candidate's partition and waits for the broker."""

    def __init__(self, broker: KafkaBroker, kafka: KafkaSettings, partitioner: Partitioner) -> None:
        self._broker = broker
        self._kafka = kafka
        self._partitioner = partitioner

    async def forward(self, batch: Sequence[tuple[Record, AtsEvent]], admission: Admission) -> None:
        """Forward a batch in the order given; returns once the broker acknowledged every record."""
        wave = CandidateWave(self._broker, self._kafka, self._partitioner)
        for record, event in batch:
            cid = event.subject
            if event.id in admission.suppressed:
                value, headers = redacted(event).model_dump_json().encode(), {SUPPRESSED_HEADER: "1"}
            elif cid in admission.versions:
                # The ATS's own bytes, unchanged: decoded once more by the router, never re-serialised here.
                value, headers = record.value or b"", {PREFERENCE_VERSION_HEADER: str(admission.versions[cid])}
            else:
                raise RuntimeError("an imported candidate has neither a version nor a suppression")
            await wave.send(value, ATS_ACCEPTED, cid, event.id, headers)
        await wave.flush()
