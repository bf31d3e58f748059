"""Batch consumption: raw records in, decoded events and dead letters out, commit after the batch.

Handlers receive whole batches (one database round trip and one produce wave per batch instead of
per record). The batch is committed only after the handler returns; an exception (database or
broker down) rewinds to the batch's first offsets, so nothing is lost and redelivery is handled by
the deterministic ids downstream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.middlewares import AckPolicy
from pymongo.errors import ExecutionTimeout, NetworkTimeout
from structlog.contextvars import bound_contextvars

from schemas.envelope import DecodeError, EventDecoder
from services.common.kafka import DeadLetters, Record, header
from services.common.logs import correlation_ids

log = logging.getLogger(__name__)
T = TypeVar("T")


Decoders = EventDecoder[T] | Mapping[str, EventDecoder[Any]]


def decode_batch(
    records: Sequence[Record], decoder: Decoders[T]
) -> tuple[list[tuple[Record, T]], list[tuple[Record, DecodeError]]]:
    """Split records into decoded events and rejects (each reject with a reason safe to log).

    `decoder` is one decoder, or one per topic when a subscriber reads several topics.
    """
    good: list[tuple[Record, T]] = []
    bad: list[tuple[Record, DecodeError]] = []
    for record in records:
        d = decoder if isinstance(decoder, EventDecoder) else decoder[record.topic]
        try:
            good.append((record, d.decode(record.value)))
        except DecodeError as exc:
            bad.append((record, exc))
    return good, bad


async def _raw_body(msg: Any) -> Any:
    # Keep bytes: decoding (and classifying bad input) is ours, not the framework's.
    return msg.body


BatchHandler = Callable[[list[tuple[Record, T]]], Awaitable[None]]
# A batch that ran out of time is retried in halves at once: redelivering it whole would only time out
# again (seen on an overloaded database: the same 500 records, redelivered for ever).
SPLIT_ON: tuple[type[BaseException], ...] = (NetworkTimeout, ExecutionTimeout, TimeoutError)


async def handle_in_halves(handle: BatchHandler[T], items: list[tuple[Record, T]]) -> None:
    """Handle a batch; if it times out, handle each half in order (recursively, down to one record).

    Safe because handlers are idempotent per record: a half that succeeded is simply done again if a
    later half fails and the whole batch is redelivered. Order within the batch is kept.
    """
    try:
        await handle(items)
    except SPLIT_ON:
        if len(items) < 2:
            raise
        mid = len(items) // 2
        log.warning("batch timed out; handling it in halves", extra={"records": len(items)})
        await handle_in_halves(handle, items[:mid])
        await handle_in_halves(handle, items[mid:])


def subscribe_batch(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    decoder: Decoders[T],
    dead_letters: DeadLetters,
    handle: BatchHandler[T],
    max_records: int = 500,
    retry_backoff_s: float = 1.0,
    session_timeout_ms: int = 10_000,
    listener: Any = None,
    skip: Callable[[Record], bool] | None = None,
    title: str | None = None,
    description: str | None = None,
) -> None:
    """Register one batch subscriber for `topics` in `group_id`: decode, dead-letter, handle, commit.

    `skip` drops records this reader never needs before they are decoded (e.g. by a header); they are
    committed with the batch like any other.
    """

    async def on_batch(body: list[bytes], message: KafkaMessage) -> None:
        raw = message.raw_message
        # A tuple from aiokafka's getmany, a list from TestKafkaBroker, one record if not batched.
        records: Sequence[Record] = raw if isinstance(raw, tuple | list) else (raw,)
        if skip is not None:
            records = [r for r in records if not skip(r)]
        good, bad = decode_batch(records, decoder)
        await dead_letters.send_all(bad)
        if not good:
            return
        # Every log line written while the batch is handled names the events (and notifications) in it.
        ids = correlation_ids([e for _, e in good], [header(r, "correlation_id") for r, _ in good])
        with bound_contextvars(**ids):
            try:
                await handle_in_halves(handle, good)
            except Exception:
                log.exception("batch failed; it will be redelivered", extra={"records": len(records)})
                await asyncio.sleep(retry_backoff_s)
                raise

    on_batch.__name__ = title or f"on_{'_'.join(t.replace('.', '_') for t in topics)}"
    dead_letters.expect(topics)
    broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=20,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_body,
        listener=listener,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(300, session_timeout_ms // 3),
        # Range assignment gives an instance the same partition numbers of every topic it reads,
        # which is what co-partitioning with preferences.changed relies on.
        partition_assignment_strategy=(RangePartitionAssignor,),
        title=title,
        description=description,
    )(on_batch)
