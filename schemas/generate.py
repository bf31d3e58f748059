"""Generate the contract documents from the models: JSON Schema per topic and FastStream's AsyncAPI 3 document.

    python -m schemas.generate            # write schemas/generated/
    python -m schemas.generate --check    # exit 1 when the committed files are stale

The AsyncAPI document is built by FastStream from a documentation broker whose channels are exactly
schemas/topics.py (every reader a `receive`, every writer a `send` operation) and whose payloads
are the pydantic models below, so it cannot name a topic or a field the contract does not have.
The services' own subscribers read raw bytes (they classify bad input themselves), which is why
they are not the source of this document.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import TypeAdapter

from schemas.ats import CONTRACT_VERSION, AtsEvent
from schemas.candidate_events import CandidateEvent
from schemas.dispatch import DeliverMessageCommand
from schemas.inbound import InboundReplyEvent
from schemas.preferences import PreferencesChangedEvent
from schemas.status import NotificationStatusEvent
from schemas.topics import (
    ATS_ACCEPTED,
    ATS_EVENTS,
    CANDIDATE_EVENTS,
    CANDIDATE_INBOUND,
    DLQ_SUFFIX,
    NOTIFICATIONS_STATUS,
    PREFERENCES_CHANGED,
    TOPICS,
)

OUT = Path(__file__).parent / "generated"

PAYLOADS: dict[str, Any] = {
    ATS_EVENTS: AtsEvent,
    ATS_ACCEPTED: AtsEvent,  # the ATS's own bytes, forwarded unchanged (redacted when the candidate was erased)
    NOTIFICATIONS_STATUS: NotificationStatusEvent,
    PREFERENCES_CHANGED: PreferencesChangedEvent,
    CANDIDATE_INBOUND: InboundReplyEvent,
    CANDIDATE_EVENTS: CandidateEvent,
}


def payload_of(topic: str) -> Any:
    """The model of a topic's record values (bytes for dead letters: the original record, unchanged)."""
    if topic.endswith(DLQ_SUFFIX):
        return bytes
    if topic.startswith("dispatch."):
        return DeliverMessageCommand
    return PAYLOADS[topic]


def json_schemas() -> dict[str, dict[str, Any]]:
    """JSON Schema of every non-DLQ topic's values."""
    out = {}
    for spec in TOPICS:
        if not spec.name.endswith(DLQ_SUFFIX):
            schema = TypeAdapter(payload_of(spec.name)).json_schema()
            schema["$comment"] = f"{spec.name}: {spec.description} Key: {spec.key}."
            out[spec.name] = schema
    return out


def _stub(model: Any) -> Any:
    async def handler(body: model) -> None:
        """Documentation only."""

    return handler


def asyncapi() -> dict[str, Any]:
    """FastStream's AsyncAPI 3.0 document of every topic, reader and writer."""
    broker = KafkaBroker("kafka:9092", description="Candidate communication contract", apply_types=True)
    for spec in TOPICS:
        model = payload_of(spec.name)
        about = (
            f"{spec.description} Key: {spec.key}. Cleanup: {spec.cleanup_policy}. "
            f"Co-partitioned: {spec.co_partitioned}."
        )
        for reader in spec.readers:
            broker.subscriber(spec.name, group_id=reader, title=f"{reader} receives {spec.name}", description=about)(
                _stub(model)
            )
        for writer in spec.writers:
            broker.publisher(spec.name, title=f"{writer} sends {spec.name}", description=about, schema=model)
    spec_doc = AsyncAPI(broker, title="candidate-comms", version=str(CONTRACT_VERSION), schema_version="3.0.0")
    return json.loads(spec_doc.to_specification().to_json())  # type: ignore[no-any-return]


def documents() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        OUT / "jsonschema" / f"{name}.json": json.dumps(s, indent=2, sort_keys=True) + "\n"
        for name, s in json_schemas().items()
    }
    files[OUT / "asyncapi.json"] = json.dumps(asyncapi(), indent=2, sort_keys=True) + "\n"
    return files


def main() -> int:
    """Write or check the generated documents."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="fail when committed files differ")
    args = parser.parse_args()
    stale = []
    for path, text in documents().items():
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(path)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print("stale: " + ", ".join(str(p) for p in stale) + " (run `make schemas`)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
