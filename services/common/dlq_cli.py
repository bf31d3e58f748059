"""Inspect and redrive dead letters: `python -m services.common.dlq_cli list|redrive ...`.

    list    [--topic ats.events ...] [selection] [--show-value]
    redrive --topic ats.events (--kind KIND | --from-offset N | --to-offset N | --all) [--dry-run]

Selection: --kind, --consumer, --partition, --from-offset/--to-offset (offsets of the DLQ topic, both
inclusive). Topics are contract names (`ats.events`), the dead letters are read from `<topic>.dlq`;
KAFKA_* variables say where the broker is (KAFKA_TOPIC_PREFIX included). Payloads are personal data:
`list` prints them only with --show-value. A redrive publishes the original key and value to the
original topic once per original position (two consumer groups may have dead-lettered the same
record), with a `dlq.redriven.from` header; the consumers' deterministic ids make a repeat harmless.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from schemas.topics import DLQ_SUFFIX, TOPICS, dlq_topic
from services.common import kafka as k
from services.common.settings import KafkaSettings

REDRIVEN_FROM = "dlq.redriven.from"


@dataclass(frozen=True)
class DeadLetter:
    """One record of a DLQ topic with what its headers say."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    def get(self, name: str) -> str:
        """A header's value ('' when missing)."""
        return self.headers.get(name, "")

    @property
    def original(self) -> tuple[str, str, str]:
        """(topic, partition, offset) the record was consumed from."""
        topic = self.get(k.DLQ_ORIGINAL_TOPIC) or self.topic.removesuffix(DLQ_SUFFIX)
        return topic, self.get(k.DLQ_ORIGINAL_PARTITION), self.get(k.DLQ_ORIGINAL_OFFSET)


@dataclass(frozen=True)
class Selection:
    """Which dead letters a command acts on."""

    kind: str | None = None
    consumer: str | None = None
    partition: int | None = None
    from_offset: int | None = None
    to_offset: int | None = None

    def matches(self, d: DeadLetter) -> bool:
        """Whether a dead letter is selected."""
        return (
            (self.kind is None or d.get(k.DLQ_ERROR_KIND) == self.kind)
            and (self.consumer is None or d.get(k.DLQ_CONSUMER) == self.consumer)
            and (self.partition is None or d.partition == self.partition)
            and (self.from_offset is None or d.offset >= self.from_offset)
            and (self.to_offset is None or d.offset <= self.to_offset)
        )


async def read_dead_letters(kafka: KafkaSettings, topics: Sequence[str], selection: Selection) -> list[DeadLetter]:
    """The selected records of the DLQs of these contract topics, up to their end at the time of the call."""
    consumer = AIOKafkaConsumer(**k.aiokafka_kwargs(kafka), group_id=None, enable_auto_commit=False)
    await consumer.start()
    try:
        found: list[DeadLetter] = []
        cluster = await consumer._client.fetch_all_metadata()  # partitions of every topic in one request
        for name in topics:
            physical = kafka.topic(dlq_topic(name))
            parts = [TopicPartition(physical, p) for p in sorted(cluster.partitions_for_topic(physical) or ())]
            if selection.partition is not None:
                parts = [tp for tp in parts if tp.partition == selection.partition]
            if not parts:
                continue
            consumer.assign(parts)
            ends = await consumer.end_offsets(parts)
            for tp in parts:
                consumer.seek(tp, max(selection.from_offset or 0, 0))
            pending = {tp for tp in parts if ends[tp] > await consumer.position(tp)}
            while pending:
                batch = await consumer.getmany(*pending, timeout_ms=500)
                for tp, records in batch.items():
                    found.extend(_letter(r) for r in records if r.offset < ends[tp])
                pending = {tp for tp in pending if await consumer.position(tp) < ends[tp]}
        return [d for d in found if selection.matches(d)]
    finally:
        await consumer.stop()


def _letter(r: k.Record) -> DeadLetter:
    headers = {key: value.decode("utf-8", "replace") for key, value in r.headers or ()}
    return DeadLetter(r.topic, r.partition, r.offset, r.key, r.value, headers)


def describe(d: DeadLetter, show_value: bool = False) -> str:
    """One line per dead letter: where it is, why, where it came from, who failed and when."""
    topic, partition, offset = d.original
    line = (
        f"{d.topic} p{d.partition}@{d.offset}  kind={d.get(k.DLQ_ERROR_KIND) or '?'}  "
        f"from={topic} p{partition or '?'}@{offset or '?'}  consumer={d.get(k.DLQ_CONSUMER) or '?'}  "
        f"at={d.get(k.DLQ_FAILED_AT) or '?'}  reason={d.get(k.DLQ_ERROR_REASON)!r}"
    )
    if show_value:
        line += f"\n    value={(d.value or b'').decode('utf-8', 'replace')!r}"
    return line


async def redrive(kafka: KafkaSettings, letters: Sequence[DeadLetter], out: TextIO, dry_run: bool = False) -> int:
    """Publish each original record (once per original position) back to its topic; return how many."""
    unique = list({d.original: d for d in letters}.values())
    producer = None if dry_run else AIOKafkaProducer(**k.aiokafka_kwargs(kafka), acks="all", enable_idempotence=True)
    if producer is not None:
        await producer.start()
    try:
        for i, d in enumerate(unique, 1):
            target = d.original[0]
            if producer is not None:
                source = f"{d.topic}:{d.partition}:{d.offset}".encode()
                await producer.send_and_wait(target, d.value, key=d.key, headers=[(REDRIVEN_FROM, source)])
            verb = "would redrive" if dry_run else "redriven"
            print(f"{verb} {i}/{len(unique)}: {d.topic} p{d.partition}@{d.offset} -> {target}", file=out, flush=True)
        return len(unique)
    finally:
        if producer is not None:
            await producer.stop()


def parser() -> argparse.ArgumentParser:
    """The command line."""
    p = argparse.ArgumentParser(prog="python -m services.common.dlq_cli", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    inputs = sorted(t.name for t in TOPICS if not t.name.endswith(DLQ_SUFFIX))
    for name in ("list", "redrive"):
        c = sub.add_parser(name)
        c.add_argument("--topic", action="append", choices=inputs, help="contract topic (repeatable; default all)")
        c.add_argument("--kind", help="error kind, e.g. malformed_json, invalid_data")
        c.add_argument("--consumer", help="consumer group that dead-lettered the record")
        c.add_argument("--partition", type=int, help="DLQ partition")
        c.add_argument("--from-offset", type=int, help="first DLQ offset (inclusive)")
        c.add_argument("--to-offset", type=int, help="last DLQ offset (inclusive)")
    sub.choices["list"].add_argument("--show-value", action="store_true", help="print payloads (personal data)")
    sub.choices["redrive"].add_argument("--all", action="store_true", help="redrive everything selected by topic")
    sub.choices["redrive"].add_argument("--dry-run", action="store_true", help="print what would be redriven")
    return p


async def run(argv: Sequence[str], kafka: KafkaSettings, out: TextIO = sys.stdout) -> int:
    """Execute one command; the exit status."""
    args = parser().parse_args(argv)
    sel = Selection(args.kind, args.consumer, args.partition, args.from_offset, args.to_offset)
    topics = args.topic or sorted(t.name for t in TOPICS if not t.name.endswith(DLQ_SUFFIX))
    if args.command == "redrive" and not (args.all or sel.kind or (sel.from_offset, sel.to_offset) != (None, None)):
        print("redrive needs a selection: --kind, --from-offset/--to-offset, or --all", file=sys.stderr)
        return 2
    letters = await read_dead_letters(kafka, topics, sel)
    if args.command == "list":
        for d in letters:
            print(describe(d, args.show_value), file=out)
        print(f"{len(letters)} dead letter(s)", file=out)
        return 0
    count = await redrive(kafka, letters, out, args.dry_run)
    print(f"{'selected' if args.dry_run else 'redriven'}: {count} record(s) of {len(letters)} dead letter(s)", file=out)
    return 0


def main() -> None:
    """Command-line entry point (Kafka settings from KAFKA_* variables)."""
    sys.exit(asyncio.run(run(sys.argv[1:], KafkaSettings())))


if __name__ == "__main__":
    main()
