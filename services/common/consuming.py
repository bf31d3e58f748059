"""Batch consumption: raw records in, decoded events and dead letters out, commit after the batch.

Handlers receive whole batches (one database round trip and one produce wave per batch instead of
per record). The batch is committed only after the handler returns. Failures are classified
(services/common/failures.py): a transient one (database or broker down) backs off and rewinds to
the batch's first offsets, so nothing is lost and redelivery is handled by the deterministic ids
downstream; a deterministic one is narrowed down by halving to the one record that causes it, which
is dead-lettered after a few tries, so the rest of the partition moves on. When no record goes
through at all (a bug or a broken dependency that fails every record the same way), the records are
not at fault: after a few in a row the batch is retried like a transient failure instead
(InputGuard.settle), so a bad deploy stalls visibly rather than emptying its inputs into the DLQs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any, TypeVar

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from faststream.kafka import KafkaBroker
from faststream.middlewares import AckPolicy
from pymongo.errors import ExecutionTimeout, NetworkTimeout
from structlog.contextvars import bound_contextvars

from schemas.envelope import DecodeError, EventDecoder
from services.common.failures import PROCESSING_FAILED, failure_reason
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
        except Exception as exc:  # noqa: BLE001 - a decoder bug is this record's failure, not the partition's
            bad.append((record, DecodeError(PROCESSING_FAILED, f"decoding failed: {failure_reason(exc)}")))
    return good, bad


async def _raw_records(msg: Any) -> Any:
    # The records themselves: decoding (and classifying bad input) is ours, not the framework's. Handing
    # them over as the body also spares the handler FastStream's `message` injection, which resolves
    # in a worker thread (a thread handoff per batch: ~3% of a service's CPU, measured with py-spy).
    return msg.raw_message


BatchHandler = Callable[[list[tuple[Record, T]]], Awaitable[None]]
# A batch that ran out of time is retried in halves at once: redelivering it whole would only time out
# again (seen on an overloaded database: the same 500 records, redelivered for ever).
SPLIT_ON: tuple[type[BaseException], ...] = (NetworkTimeout, ExecutionTimeout, TimeoutError)


@dataclass
class Isolation:
    """One batch's isolation of deterministic failures: tries per record, the classifier, and the outcome."""

    attempts: int
    is_transient: Callable[[BaseException], bool]
    poisoned: list[tuple[Record, DecodeError]] = field(default_factory=list)  # dead-lettered after the batch
    handled: bool = False  # at least one record went through


async def handle_in_halves(
    handle: BatchHandler[T], items: list[tuple[Record, T]], iso: Isolation | None = None
) -> None:
    """Handle a batch; if it times out, or fails deterministically (with `iso`), handle each half in order.

    Recursively, down to one record: a single record that times out or fails transiently raises (the
    batch is redelivered); one that fails deterministically is tried `iso.attempts` times in all and
    then set aside in `iso.poisoned`. Safe because handlers are idempotent per record: a half that
    succeeded is simply done again if a later half fails and the whole batch is redelivered. Order is kept.
    """
    try:
        await handle(items)
        if iso is not None:
            iso.handled = True
        return
    except SPLIT_ON:
        if len(items) < 2:
            raise
        log.warning("batch timed out; handling it in halves", extra={"records": len(items)})
    except Exception as exc:
        if iso is None or iso.is_transient(exc):
            raise
        if len(items) < 2:
            await _retry_or_set_aside(handle, items, exc, iso)
            return
        log.warning("batch failed; narrowing it down in halves", extra={"records": len(items)}, exc_info=exc)
    mid = len(items) // 2
    await handle_in_halves(handle, items[:mid], iso)
    await handle_in_halves(handle, items[mid:], iso)


async def _retry_or_set_aside(
    handle: BatchHandler[T], item: list[tuple[Record, T]], exc: Exception, iso: Isolation
) -> None:
    """One record failed deterministically once: try it again, then set it aside with the last reason."""
    for _ in range(iso.attempts - 1):
        try:
            await handle(item)
            iso.handled = True
            return
        except Exception as again:
            if isinstance(again, SPLIT_ON) or iso.is_transient(again):
                raise
            exc = again
    record = item[0][0]
    reason = f"{failure_reason(exc)} (failed {iso.attempts} times in a row)"
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    log.error("record fails deterministically", extra={**where, "reason": reason}, exc_info=exc)
    iso.poisoned.append((record, DecodeError(PROCESSING_FAILED, reason)))


def subscribe_batch(
    broker: KafkaBroker,
    topics: Sequence[str],
    *,
    group_id: str,
    decoder: Decoders[T],
    dead_letters: DeadLetters,
    handle: BatchHandler[T],
    max_records: int = 500,
    session_timeout_ms: int = 10_000,
    listener: Any = None,
    skip: Callable[[Record], bool] | None = None,
    title: str | None = None,
    description: str | None = None,
    gather_ms: int = 0,
) -> None:
    """Register one batch subscriber for `topics` in `group_id`: decode, dead-letter, handle, commit.

    Failures follow `dead_letters.guard` (see the module docstring). `skip` drops records this reader
    never needs before they are decoded (e.g. by a header); they are committed with the batch.
    `gather_ms` > 0 (readers off the hot path): the broker answers a fetch once `GATHER_BYTES` are
    waiting or that many ms passed. Every fetch is a request the broker and this process pay for
    whatever it carries; a hot-path reader (0) is answered the moment one record arrives.
    """
    name = title or f"on_{'_'.join(t.replace('.', '_') for t in topics)}"
    guard = dead_letters.guard

    async def on_batch(raw: Any) -> None:
        # A tuple from aiokafka's getmany, a list from TestKafkaBroker, one record if not batched.
        records: Sequence[Record] = raw if isinstance(raw, tuple | list) else (raw,)
        if skip is not None:
            records = [r for r in records if not skip(r)]
        good, bad = decode_batch(records, decoder)
        rejected = [(r, e) for r, e in bad if e.kind != PROCESSING_FAILED]  # the contract's: always dead-lettered
        iso = Isolation(guard.poison_attempts, guard.is_transient, [b for b in bad if b[1].kind == PROCESSING_FAILED])
        # Every log line written while the batch is handled names the events (and notifications) in it.
        ids = correlation_ids([e for _, e in good], [header(r, "correlation_id") for r, _ in good])
        try:
            if good:
                with bound_contextvars(**ids):
                    await handle_in_halves(handle, good, iso)
            # Raises when every record keeps failing: that is not the records' fault, so none is dead-lettered.
            guard.settle(name, iso.handled, [e for _, e in iso.poisoned])
            await dead_letters.send_all(rejected + iso.poisoned)
        except Exception as exc:
            backoff = guard.failed(name, exc)
            extra = {"records": len(records), "backoff_s": round(backoff, 2), "reason": failure_reason(exc)}
            log.warning("batch failed; it is redelivered after a backoff", extra=extra, exc_info=exc)
            await asyncio.sleep(backoff)
            raise
        guard.succeeded(name)

    on_batch.__name__ = name
    dead_letters.expect(topics)
    guard.expect(name)
    subscriber = broker.subscriber(
        *topics,
        group_id=group_id,
        batch=True,
        max_records=max_records,
        batch_timeout_ms=IDLE_POLL_MS,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_raw_records,
        listener=listener,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(300, session_timeout_ms // 3),
        # Range assignment gives an instance the same partition numbers of every topic it reads,
        # which is what co-partitioning with preferences.changed relies on.
        partition_assignment_strategy=(RangePartitionAssignor,),
        fetch_min_bytes=GATHER_BYTES if gather_ms else 1,
        fetch_max_wait_ms=gather_ms or 500,
        title=title,
        description=description,
    )
    subscriber(on_batch)
    wake_on_arrival(subscriber)


IDLE_POLL_MS = 200
GATHER_BYTES = 64 * 1024


def wake_on_arrival(subscriber: Any) -> None:
    """Hand a record to the handler the moment it is fetched, also after an idle poll.

    FastStream's batch subscriber sleeps `batch_timeout_ms` after every empty poll, so a record that
    arrives during that sleep waits for it: up to the whole timeout per hop, half the time on a quiet
    pipeline. aiokafka's `getmany` already returns as soon as a record is fetched, so the loop polls
    with a longer wait and never sleeps. Under load nothing changes (polls are never empty).
    """
    poll_ms, limit = subscriber.batch_timeout_ms, subscriber.max_records

    async def get_msg(consumer: Any) -> tuple[Any, ...]:
        messages = await consumer.getmany(timeout_ms=poll_ms, max_records=limit)
        return tuple(chain.from_iterable(messages.values()))

    subscriber.get_msg = get_msg
