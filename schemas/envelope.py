"""CloudEvents 1.0 envelope (structured JSON mode) and the decoding that classifies bad input."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Final, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from schemas.common import CandidateId, Timestamp

SPEC_VERSION: Final = "1.0"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; concrete events narrow `type` and `data`."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    specversion: Literal["1.0"] = Field(SPEC_VERSION, description="CloudEvents spec version.")
    id: str = Field(min_length=1, max_length=200, description="Unique per source; redeliveries keep it.")
    source: str = Field(min_length=1, max_length=500, description="URI-reference of the producer.")
    type: str = Field(min_length=1, max_length=200, description="Event type, e.g. ats.interview.scheduled.")
    time: Timestamp = Field(description="When the occurrence happened (RFC 3339 with offset, years 1970-8999).")
    subject: CandidateId = Field(description="The candidate id (also the Kafka record key).")
    datacontenttype: Literal["application/json"] = Field("application/json", description="Always JSON.")
    data: Any = Field(description="Type-specific payload.")


class DecodeError(Exception):
    """A record that cannot become an event; `kind` and `reason` are safe to log (no input values)."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def render_errors(exc: ValidationError, limit: int = 10) -> str:
    """Validation errors as 'location: message' lines, never echoing the input values."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    if more > 0:
        parts.append(f"... and {more} more")
    return "; ".join(parts)


_GENERIC = TypeAdapter(CloudEvent)


def _classify(raw: bytes, known_types: frozenset[str], exc: ValidationError) -> DecodeError:
    """Explain why `raw` is not a valid event of `known_types` (only after fast decoding failed)."""
    try:
        obj = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as json_error:
        return DecodeError("malformed_json", f"not valid JSON ({type(json_error).__name__})")
    except RecursionError:  # valid JSON nested deeper than the parser's stack: still a record to dead-letter
        return DecodeError("malformed_json", "JSON nested too deeply")
    if not isinstance(obj, dict):
        return DecodeError("invalid_envelope", "the value is not a JSON object")
    try:
        env = _GENERIC.validate_json(raw, strict=True)  # JSON mode: a time is a string, as in the fast pass
    except ValidationError as envelope_error:
        return DecodeError("invalid_envelope", render_errors(envelope_error))
    if env.type not in known_types:
        return DecodeError("unknown_type", f"unknown event type (expected one of {len(known_types)} known types)")
    return DecodeError("invalid_data", render_errors(exc))


T = TypeVar("T")


class EventDecoder(Generic[T]):
    """Decodes raw record values into events: one fast pydantic pass, a classification on failure."""

    def __init__(self, adapter: TypeAdapter[T], known_types: frozenset[str], max_bytes: int) -> None:
        self.adapter = adapter
        self.known_types = known_types
        self.max_bytes = max_bytes

    def decode(self, raw: bytes | None) -> T:
        """Return the event or raise DecodeError with a kind and a reason free of input values."""
        if raw is None:
            raise DecodeError("missing_value", "the record has no value")
        if len(raw) > self.max_bytes:
            raise DecodeError("payload_too_large", f"{len(raw)} bytes exceeds the limit of {self.max_bytes}")
        try:
            # Strict: JSON types as the published schema states them (no "3" for 3, no number for a time).
            return self.adapter.validate_json(raw, strict=True)
        except ValidationError as exc:
            raise _classify(raw, self.known_types, exc) from None


def new_event_id() -> str:
    """A fresh event id for events we originate."""
    return str(uuid.uuid4())


def utcnow() -> datetime:
    """The current time, timezone-aware (only edges call this; the core gets time as an argument)."""
    return datetime.now(UTC)
