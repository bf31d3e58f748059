"""Play the ATS by hand: produce one CloudEvent to ats.events (key = candidate id).

python -m deploy.local.ats_cli interview-scheduled --candidate cand-1 --email sanne@example.org
python -m deploy.local.ats_cli application-received --candidate cand-2 --phone +31612345678 --locale en
python -m deploy.local.ats_cli --print interview-scheduled ...   # print the JSON, produce nothing
"""

from __future__ import annotations

import argparse
import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.topics import ATS_EVENTS
from services.common.kafka import aiokafka_kwargs
from services.common.settings import KafkaSettings

KINDS = {
    "application-received": "ats.application.received",
    "stage-changed": "ats.stage.changed",
    "interview-scheduled": "ats.interview.scheduled",
    "interview-rescheduled": "ats.interview.rescheduled",
    "interview-cancelled": "ats.interview.cancelled",
    "offer-extended": "ats.offer.extended",
    "candidate-rejected": "ats.candidate.rejected",
    "candidate-hired": "ats.candidate.hired",
    "message-requested": "ats.message.requested",
}


def build_event(kind: str, args: argparse.Namespace, now: datetime) -> dict[str, Any]:
    """A valid ATS event of the given kind from the command-line arguments."""
    start = now + timedelta(days=args.in_days)
    start = start.replace(hour=args.hour, minute=0, second=0, microsecond=0)
    data: dict[str, Any] = {
        "candidate": {
            "id": args.candidate,
            "name": args.name,
            "email": args.email,
            "phone": args.phone,
            "locale": args.locale,
            "timezone": args.timezone,
            "opt_ins": args.opt_in,
        },
        "application": {"id": args.application, "job_title": args.job, "stage": args.stage},
    }
    if kind.startswith("interview"):
        data["interview"] = {
            "id": args.interview,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
            "location": args.location,
            "sequence": args.sequence,
        }
    if kind == "offer-extended":
        data["offer"] = {"deadline": (now + timedelta(days=5)).isoformat()}
    if kind == "message-requested":
        data["message"] = {"subject": args.subject, "body": args.body}
    event = {
        "specversion": "1.0",
        "id": args.event_id or str(uuid.uuid4()),
        "source": "urn:ats:cli",
        "type": KINDS[kind],
        "time": now.isoformat(),
        "subject": args.candidate,
        "datacontenttype": "application/json",
        "data": data,
    }
    ATS_EVENT_ADAPTER.validate_python(event)  # fail here, not in the services
    return event


async def produce(kafka: KafkaSettings, event: dict[str, Any]) -> tuple[int, int]:
    """Send one event and wait for the broker's acknowledgement."""
    producer = AIOKafkaProducer(**aiokafka_kwargs(kafka), acks="all")
    await producer.start()
    try:
        md = await producer.send_and_wait(
            kafka.topic(ATS_EVENTS), json.dumps(event).encode(), key=event["subject"].encode()
        )
    finally:
        await producer.stop()
    return md.partition, md.offset


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description="Produce one ATS event to ats.events.")
    p.add_argument("kind", choices=sorted(KINDS))
    p.add_argument("--candidate", default="cand-1")
    p.add_argument("--name", default="Sanne de Vries")
    p.add_argument("--email", default="sanne@example.org")
    p.add_argument("--phone", default=None)
    p.add_argument("--locale", default="nl-NL")
    p.add_argument("--timezone", default="Europe/Amsterdam")
    p.add_argument("--opt-in", action="append", default=[], help="channel the ATS recorded an opt-in for")
    p.add_argument("--application", default="app-1")
    p.add_argument("--job", default="Data engineer")
    p.add_argument("--stage", default="interview")
    p.add_argument("--interview", default="iv-1")
    p.add_argument("--sequence", type=int, default=0)
    p.add_argument("--in-days", type=int, default=3)
    p.add_argument("--hour", type=int, default=10)
    p.add_argument("--location", default="Utrecht, Catharijnesingel 1")
    p.add_argument("--subject", default="Even bijpraten")
    p.add_argument("--body", default="Heb je tijd voor een kort gesprek?")
    p.add_argument("--event-id", default=None)
    p.add_argument("--print", action="store_true", help="print the event instead of producing it")
    args = p.parse_args()
    event = build_event(args.kind, args, datetime.now(UTC))
    if args.print:
        print(json.dumps(event, indent=2))
        return
    partition, offset = asyncio.run(produce(KafkaSettings(), event))
    print(f"produced {event['type']} id={event['id']} to partition {partition} offset {offset}")


if __name__ == "__main__":
    main()
