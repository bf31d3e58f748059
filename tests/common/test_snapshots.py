"""Records of preferences.changed read as a stranger's input: every bad key or value is a DecodeError with a
reason free of input values, never an exception that stops a view reader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.defaults import default_snapshot
from schemas.envelope import DecodeError
from schemas.preferences import PreferencesChangedEvent
from services.common.snapshots import decode_snapshot
from tests.support import ats_event

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@dataclass
class Rec:
    key: bytes | None
    value: bytes | None
    topic: str = "preferences.changed"
    partition: int = 0
    offset: int = 0
    headers: tuple[tuple[str, bytes], ...] = ()


def snapshot_value(candidate_id: str, **changes: object) -> bytes:
    candidate = ATS_EVENT_ADAPTER.validate_python(ats_event("ats.application.received", candidate_id)).data.candidate
    snapshot = default_snapshot(candidate, NOW, version=3)
    doc = json.loads(PreferencesChangedEvent.of(snapshot).model_dump_json())
    doc["data"] |= changes
    return json.dumps(doc).encode()


def test_a_good_snapshot_and_a_tombstone_decode() -> None:
    candidate_id, snapshot = decode_snapshot(Rec(b"cand-7", snapshot_value("cand-7")))
    assert candidate_id == "cand-7" and snapshot is not None and snapshot.version == 3
    assert decode_snapshot(Rec(b"cand-7", None)) == ("cand-7", None)


@pytest.mark.parametrize(
    ("key", "value", "kind", "reason"),
    [
        (b"\xff\xfecand", b"{}", "invalid_key", "the record key is not UTF-8"),
        (None, b"{}", "invalid_key", "the record has no key"),
        (b"", None, "invalid_key", "the record has no key"),
        (b"cand-7", snapshot_value("cand-8"), "invalid_key", "the record key differs from the snapshot's candidate_id"),
        (b"cand-7", b'{"data": {"email": "sanne@example.org"', "malformed_json", "Invalid JSON"),
        (b"cand-7", snapshot_value("cand-7", version="sanne@example.org"), "invalid_data", "data.version"),
        (b"cand-7", b"[1, 2]", "invalid_data", "(root)"),
    ],
    ids=["non-utf8-key", "no-key", "empty-key-tombstone", "other-candidate", "truncated", "bad-field", "not-an-object"],
)
def test_bad_records_become_decode_errors_with_safe_reasons(
    key: bytes | None, value: bytes | None, kind: str, reason: str
) -> None:
    with pytest.raises(DecodeError) as error:
        decode_snapshot(Rec(key, value))
    assert error.value.kind == kind
    assert error.value.reason.startswith(reason) or reason in error.value.reason
    assert "sanne" not in error.value.reason
