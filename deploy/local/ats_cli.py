"""Play the ATS by hand: produce one CloudEvent to ats.events (key = candidate id).

The producer is librdkafka (confluent-kafka) with its default partitioner, as most ATS integrations
are: the record may land on a different partition than our own client would pick, and that is fine
(the preference service re-keys every accepted event onto `ats.accepted`).

python -m deploy.local.ats_cli interview-scheduled --candidate cand-1 --email sanne@example.org
python -m deploy.local.ats_cli application-received --candidate cand-2 --phone +31612345678 --locale en
python -m deploy.local.ats_cli --print interview-scheduled ...   # print the JSON, produce nothing
"""

from __future__ import annotations

import argparse
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from schemas.ats import ATS_EVENT_ADAPTER
from schemas.topics import ATS_EVENTS
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


def librdkafka_config(kafka: KafkaSettings) -> dict[str, Any]:
    """librdkafka's configuration for these settings: durable, idempotent, default partitioner."""
    config: dict[str, Any] = {
        "bootstrap.servers": kafka.bootstrap_servers,
        "security.protocol": kafka.security_protocol,
        "acks": "all",
        "enable.idempotence": True,
    }
    if kafka.ssl_cafile:
        config["ssl.ca.location"] = kafka.ssl_cafile
    if kafka.security_protocol.startswith("SASL"):
        config["sasl.mechanism"] = kafka.sasl_mechanism or "SCRAM-SHA-512"
        config["sasl.username"] = kafka.sasl_username or ""
        config["sasl.password"] = kafka.sasl_password.get_secret_value() if kafka.sasl_password else ""
    return config


def produce(kafka: KafkaSettings, event: dict[str, Any], timeout_s: float = 30.0) -> tuple[int, int]:
    """Send one event and wait for the broker's acknowledgement; (partition, offset)."""
    producer = Producer(librdkafka_config(kafka))
    reports: list[tuple[KafkaError | None, Message]] = []
    producer.produce(
        kafka.topic(ATS_EVENTS),
        value=json.dumps(event).encode(),
        key=event["subject"].encode(),
        on_delivery=lambda err, msg: reports.append((err, msg)),
    )
    left = producer.flush(timeout_s)
    if left or not reports:
        raise SystemExit(f"the broker did not acknowledge the event within {timeout_s:.0f}s")
    err, msg = reports[0]
    if err is not None:
        raise SystemExit(f"the broker refused the event: {err}")
    return msg.partition() or 0, msg.offset() or 0


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
    partition, offset = produce(KafkaSettings(), event)
    print(f"produced {event['type']} id={event['id']} to partition {partition} offset {offset}")


if __name__ == "__main__":
    main()
