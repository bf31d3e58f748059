"""The CloudEvents 1.0 HTTP protocol binding (structured, batched and binary mode) onto our ats.* contract.

Pure: headers and body in, the events as JSON objects or field-level reasons out. A request is taken whole
or not at all: one invalid event in a batch rejects the batch, so nothing is produced.
https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from schemas.ats import ATS_EVENT_ADAPTER

STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
_CE = "ce-"


@dataclass(frozen=True)
class FieldError:
    """Why one event (by its place in the request) is not valid: a field path and a message, never a value."""

    index: int
    field: str
    message: str


class BindingError(Exception):
    """The request is not a CloudEvents request we can read (wrong media type, not JSON, too many events)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def read_events(headers: Mapping[str, str], body: bytes, max_events: int) -> list[dict[str, Any]]:
    """The request's events as JSON objects, by mode (headers lower-case); BindingError when unreadable."""
    media = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == BATCH:
        doc = _json(body)
        if not isinstance(doc, list):
            raise BindingError(400, "a batch is a JSON array of events")
        if len(doc) > max_events:
            raise BindingError(413, f"at most {max_events} events per batch")
        return doc
    if media == STRUCTURED:
        return [_json(body)]
    if _CE + "specversion" in headers:
        return [_binary(headers, body, media)]
    raise BindingError(415, f"send {STRUCTURED}, {BATCH}, or binary mode with ce-* headers and a JSON body")


def validate(events: list[Any]) -> list[FieldError]:
    """Every reason any event is not a valid ats.* event of our contract (empty: all valid)."""
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            errors.append(FieldError(index, "(root)", "an event is a JSON object"))
            continue
        try:
            # Strict, from JSON: the schema's types exactly, as every decoder of ats.events reads them.
            ATS_EVENT_ADAPTER.validate_json(json.dumps(event), strict=True)
        except ValidationError as exc:
            for err in exc.errors(include_url=False, include_input=False, include_context=False):
                loc = [str(p) for p in err["loc"]]
                # The discriminated union puts the event type first in every path: leave it out.
                if loc and loc[0] == event.get("type"):
                    loc = loc[1:]
                errors.append(FieldError(index, ".".join(loc) or "(root)", err["msg"]))
    return errors


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BindingError(400, "the body is not valid JSON") from None


def _binary(headers: Mapping[str, str], body: bytes, media: str) -> dict[str, Any]:
    """Binary mode: attributes in ce-* headers, the data in the body."""
    if media not in ("application/json", ""):
        raise BindingError(415, "binary mode carries JSON data (Content-Type: application/json)")
    event: dict[str, Any] = {name[len(_CE) :]: value for name, value in headers.items() if name.startswith(_CE)}
    event["datacontenttype"] = "application/json"
    event["data"] = _json(body)
    return event
