"""In-memory views materialised from the compacted `preferences.changed` topic.

The reader is assigned partitions directly (no consumer group) and commits nothing, so every
rebuild starts at the beginning of the compacted log and ends at the high watermark measured when it
started. Values are reduced to what the owning service needs; a snapshot whose version is not newer
than the one held is dropped; a tombstone forgets the candidate and leaves a marker with the version of
the erasure.

A bad record (no UTF-8 key, an undecodable value, a key that is not the snapshot's candidate, a
record on another partition than its candidate's, a value the service cannot reduce) is skipped and
handed to `dead_letter`. Compaction keeps such a record, so every rebuild meets it again: the reader
dead-letters each (partition, offset) once per process and remembers it; a restarted process
dead-letters it once more (same original offset in the headers, so the copies are recognisable).
Dead letters found during a rebuild are sent by `run()`, so a rebuild never waits for (or fails on)
the DLQ.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from schemas.envelope import DecodeError
from schemas.partitioning import partition_for
from schemas.preferences import PreferenceSnapshot
from schemas.topics import PREFERENCE_VERSION_HEADER
from services.common.failures import PROCESSING_FAILED, failure_reason
from services.common.runtime import stop_if_cancelled
from services.common.snapshots import WRONG_PARTITION, ViewRecord, decode_snapshot

log = logging.getLogger(__name__)


class Versioned(Protocol):
    """A reduced value that remembers the snapshot version it came from."""

    @property
    def version(self) -> int: ...


def tombstone_version(record: ViewRecord) -> int | None:
    """The version an erasure was published at (None: no such header, or not a number)."""
    for name, raw in record.headers or ():
        if name == PREFERENCE_VERSION_HEADER:
            try:
                return int(raw)
            except ValueError:
                return None
    return None


V = TypeVar("V", bound=Versioned)
OnChange = Callable[[int, str, V | None, V | None], None]
DeadLetter = Callable[[ViewRecord, DecodeError], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Erased:
    """What a view keeps of an erased candidate: the version of the erasure (a stale snapshot is older)."""

    version: int


class PartitionedView(Generic[V]):
    """candidate id -> reduced preferences, grouped by partition so a revoked partition drops at once.

    Lookups go by candidate id alone: the partition comes from the project's partitioning rule, never
    from the partition an input record arrived on. An erasure leaves an `Erased` marker, so a snapshot
    older than the erasure that arrives later (a replay, a race with a concurrent write) is dropped.
    """

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, V | Erased]] = {}
        self._erased = 0
        self.partition_count = 0  # set by the reader from the topic's metadata

    def partition_of(self, candidate_id: str) -> int:
        """The partition that holds a candidate (the same number on every co-partitioned topic)."""
        return partition_for(candidate_id, self.partition_count)

    def state(self, candidate_id: str) -> V | Erased | None:
        """The candidate's preferences, an erasure marker, or None when this view knows nothing of them."""
        part = self._parts.get(self.partition_of(candidate_id)) if self.partition_count else None
        return part.get(candidate_id) if part is not None else None

    def get(self, candidate_id: str) -> V | None:
        """The candidate's preferences (None when unknown or erased)."""
        value = self.state(candidate_id)
        return None if value is None or isinstance(value, Erased) else value

    def apply(
        self, partition: int, candidate_id: str, value: V | None, version: int | None = None
    ) -> tuple[V | None, bool]:
        """Store a newer value, or an erasure (value None) at `version`; return (previous, changed)."""
        part = self._parts.setdefault(partition, {})
        old = part.get(candidate_id)
        previous = None if old is None or isinstance(old, Erased) else old
        if value is not None:
            if old is not None and value.version <= old.version:
                return previous, False
            self._erased -= isinstance(old, Erased)
            part[candidate_id] = value
            return previous, True
        if version is None:  # a tombstone written before erasures carried their version
            version = old.version + (previous is not None) if old is not None else 0
        if old is not None and old.version >= version:
            return previous, False
        self._erased += not isinstance(old, Erased)
        part[candidate_id] = Erased(version)
        return previous, previous is not None

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget whole partitions (revoked from this instance)."""
        for p in partitions:
            gone = self._parts.pop(p, None) or {}
            self._erased -= sum(isinstance(v, Erased) for v in gone.values())

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts.values()) - self._erased


class ViewReader(Generic[V]):
    """Keeps a PartitionedView in step with `preferences.changed` for the partitions it is given."""

    def __init__(
        self,
        consumer: AIOKafkaConsumer,
        topic: str,
        reduce: Callable[[PreferenceSnapshot], V],
        on_change: OnChange[V] | None = None,
        on_bad_record: Callable[[str], None] | None = None,
        on_live_snapshot: Callable[[PreferenceSnapshot], None] | None = None,
        live_delay_s: float = 0.0,
        offsets: AIOKafkaConsumer | None = None,
        dead_letter: DeadLetter | None = None,
    ) -> None:
        self.view: PartitionedView[V] = PartitionedView()
        self._consumer = consumer
        # The barrier asks for end offsets on its own connection: a broker answers the requests of one
        # connection in order, so on the tailing consumer's they would wait behind its long-poll fetch.
        self._offsets = offsets or consumer
        self._topic = topic
        self._reduce = reduce
        self._on_change = on_change
        self._on_bad_record = on_bad_record
        self._on_live_snapshot = on_live_snapshot
        self._live_delay_s = live_delay_s  # test only: a slow view, to prove the send barrier
        self._lock = asyncio.Lock()
        self._assigned: set[int] = set()
        self._positions: dict[int, int] = {}
        self._caught_up = asyncio.Event()
        self._progress = asyncio.Event()
        self.last_rebuild_s = 0.0
        self._dead_letter = dead_letter
        self._to_dead_letter: dict[tuple[int, int], tuple[ViewRecord, DecodeError]] = {}
        self._dead_lettered: set[tuple[int, int]] = set()  # (partition, offset): once per process
        self._dead_letter_pause_until = 0.0

    @property
    def assigned(self) -> frozenset[int]:
        """Partitions this reader follows."""
        return frozenset(self._assigned)

    @property
    def caught_up(self) -> bool:
        """True once every assigned partition was read to the high watermark of its rebuild."""
        return self._caught_up.is_set()

    def _apply(self, partition: int, record: ViewRecord, notify: bool) -> None:
        try:
            candidate_id, snapshot = decode_snapshot(record)
            if self.view.partition_count and self.view.partition_of(candidate_id) != partition:
                expected = self.view.partition_of(candidate_id)
                raise DecodeError(WRONG_PARTITION, f"on partition {partition}; the candidate's partition is {expected}")
            reduced = self._reduce(snapshot) if snapshot is not None else None
        except DecodeError as exc:
            self._skip(record, exc)
            return
        except Exception as exc:  # noqa: BLE001 - a value this service cannot reduce is this record's failure
            self._skip(record, DecodeError(PROCESSING_FAILED, f"reducing the snapshot failed: {failure_reason(exc)}"))
            return
        if snapshot is not None and notify and self._on_live_snapshot is not None:
            self._on_live_snapshot(snapshot)
        old, changed = self.view.apply(partition, candidate_id, reduced, tombstone_version(record))
        if changed and notify and self._on_change is not None:
            self._on_change(partition, candidate_id, old, reduced)

    def _skip(self, record: ViewRecord, error: DecodeError) -> None:
        """Leave a bad record out of the view and queue it for the DLQ (once per process)."""
        where = (record.partition, record.offset)
        log.error(
            "bad record on preferences.changed skipped",
            extra={"partition": record.partition, "offset": record.offset, "kind": error.kind, "reason": error.reason},
        )
        if self._on_bad_record is not None:
            self._on_bad_record(error.kind)
        if self._dead_letter is not None and where not in self._dead_lettered:
            self._to_dead_letter[where] = (record, error)

    async def send_dead_letters(self) -> None:
        """Dead-letter the bad records met so far; those that fail stay queued for the next call."""
        if self._dead_letter is None or time.monotonic() < self._dead_letter_pause_until:
            return
        for where, (record, error) in list(self._to_dead_letter.items()):
            try:
                await self._dead_letter(record, error)
            except Exception:
                log.exception("dead-lettering a bad snapshot failed; retried later", extra={"offset": where[1]})
                self._dead_letter_pause_until = time.monotonic() + 5.0  # not on every 50 ms turn of run()
                return
            del self._to_dead_letter[where]
            self._dead_lettered.add(where)

    async def partitions(self) -> set[int]:
        """All partition numbers of the topic."""
        # consumer.topics() fetches the metadata but does not keep it; ask the client for the cluster.
        cluster = await self._consumer._client.fetch_all_metadata()
        found = cluster.partitions_for_topic(self._topic)
        if not found:
            raise RuntimeError(f"topic {self._topic} does not exist")
        return set(found)

    async def assign(self, partitions: Iterable[int]) -> None:
        """Follow exactly these partitions; rebuild the new ones to their high watermark first."""
        wanted = set(partitions)
        if not self.view.partition_count:
            self.view.partition_count = len(await self.partitions())
        async with self._lock:
            self._caught_up.clear()
            started = time.perf_counter()
            self.view.drop(self._assigned - wanted)
            new = wanted - self._assigned
            self._consumer.assign([TopicPartition(self._topic, p) for p in sorted(wanted)])
            for p in wanted - new:
                self._consumer.seek(TopicPartition(self._topic, p), self._positions[p])
            new_tps = [TopicPartition(self._topic, p) for p in sorted(new)]
            if new_tps:
                await self._consumer.seek_to_beginning(*new_tps)
                await self._read_to(await self._consumer.end_offsets(new_tps))
            self._assigned = wanted
            self._positions = {p: self._positions.get(p, 0) for p in wanted}
            for tp in new_tps:
                self._positions[tp.partition] = await self._consumer.position(tp)
            self.last_rebuild_s = time.perf_counter() - started
            self._caught_up.set()
            self._progressed()

    async def _read_to(self, targets: dict[TopicPartition, int]) -> None:
        pending = {tp: hw for tp, hw in targets.items() if hw > 0}
        while pending:
            batch = await self._consumer.getmany(*pending, timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                for r in records:
                    self._apply(tp.partition, r, notify=False)
            for tp in list(pending):
                if await self._consumer.position(tp) >= pending[tp]:
                    del pending[tp]

    async def run(self) -> None:
        """Tail the assigned partitions forever, notifying on every applied change."""
        while True:
            stop_if_cancelled()
            await self.send_dead_letters()
            await self._caught_up.wait()
            async with self._lock:
                batch = await self._consumer.getmany(timeout_ms=50, max_records=5_000)
                if batch and self._live_delay_s:
                    await asyncio.sleep(self._live_delay_s)
                for tp, records in batch.items():
                    if tp.partition not in self._assigned:
                        continue
                    for r in records:
                        self._apply(tp.partition, r, notify=True)
                moved = bool(batch)
                for p in self._assigned:
                    # position(), not last offset + 1: compaction leaves gaps the high watermark skips.
                    position = await self._consumer.position(TopicPartition(self._topic, p))
                    moved = moved or position != self._positions.get(p)
                    self._positions[p] = position
            if moved:
                self._progressed()

    async def resume(self) -> None:
        """Go back to the last offsets fully applied (after run() failed mid-batch); re-applying is a no-op."""
        async with self._lock:
            for p in self._assigned:
                self._consumer.seek(TopicPartition(self._topic, p), self._positions[p])

    def _progressed(self) -> None:
        """Wake everyone waiting for the view to move (wait_for)."""
        self._progress.set()
        self._progress = asyncio.Event()

    async def wait_for(self, ready: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until `ready()` holds, re-checking each time the view applied records; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                await asyncio.wait_for(self._progress.wait(), remaining)
            except TimeoutError:
                return ready()
        return True

    def position(self, partition: int) -> int:
        """Offset of the next record this view will apply in a partition."""
        return self._positions.get(partition, 0)

    async def wait_caught_up(self, partitions: Iterable[int], timeout_s: float) -> bool:
        """Wait until the view has applied everything on these partitions as of now; False on timeout.

        This is the acknowledgement barrier of the last-mile consent check.
        """
        tps = [TopicPartition(self._topic, p) for p in set(partitions)]
        targets = await self._offsets.end_offsets(tps)
        return await self.wait_for(
            lambda: all(self.position(tp.partition) >= hw for tp, hw in targets.items()), timeout_s
        )
