"""One record of the compacted `preferences.changed`, read as a stranger's input: key, value, and that they agree.

Only the preference service writes the topic, but a compacted topic keeps whatever reached it for
ever: a record another client wrote, or one an older version got wrong, is met again by every
rebuild. So a bad record becomes a DecodeError with a reason that holds no input values, never an
exception that stops a reader.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from pydantic import ValidationError

from schemas.envelope import DecodeError, render_errors
from schemas.preferences import PREFERENCES_EVENT_ADAPTER, PreferenceSnapshot

# Dead-letter kinds of preferences.changed besides the decode kinds (services/common/kafka.py).
INVALID_KEY = "invalid_key"
# A snapshot on another partition than the partitioning rule gives its candidate: no lookup would find it.
WRONG_PARTITION = "wrong_partition"
SNAPSHOT_KINDS = (INVALID_KEY, WRONG_PARTITION, "malformed_json", "invalid_data")


class ViewRecord(Protocol):
    """What the reader needs of a consumed record (aiokafka's ConsumerRecord satisfies it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def candidate_of(record: ViewRecord) -> str:
    """The candidate id a record is keyed by (DecodeError when there is none, or it is not UTF-8)."""
    if not record.key:
        raise DecodeError(INVALID_KEY, "the record has no key (preferences.changed is keyed by candidate id)")
    try:
        return record.key.decode()
    except UnicodeDecodeError:
        raise DecodeError(INVALID_KEY, "the record key is not UTF-8") from None


def decode_snapshot(record: ViewRecord) -> tuple[str, PreferenceSnapshot | None]:
    """(candidate id, snapshot) of a record, None for a tombstone; DecodeError with a safe reason when bad."""
    candidate_id = candidate_of(record)
    if record.value is None:
        return candidate_id, None
    try:
        event = PREFERENCES_EVENT_ADAPTER.validate_json(record.value)
    except ValidationError as exc:
        malformed = any(e["type"] == "json_invalid" for e in exc.errors(include_input=False))
        raise DecodeError("malformed_json" if malformed else "invalid_data", render_errors(exc)) from None
    if event.data.candidate_id != candidate_id:
        # Stored under the key, another candidate's contact data would be used for this one.
        raise DecodeError(INVALID_KEY, "the record key differs from the snapshot's candidate_id")
    return candidate_id, event.data
