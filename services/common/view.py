"""In-memory views materialised from the compacted `preferences.changed` topic.

The reader is assigned partitions directly (no consumer group) and commits nothing, so every
rebuild starts at the beginning of the compacted log and ends at the high watermark measured when it
started. Values are reduced to what the owning service needs; a snapshot whose version is not newer
than the one held is dropped; a tombstone forgets the candidate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import ValidationError

from schemas.preferences import PREFERENCES_EVENT_ADAPTER, PreferenceSnapshot

log = logging.getLogger(__name__)


class Versioned(Protocol):
    """A reduced value that remembers the snapshot version it came from."""

    @property
    def version(self) -> int: ...


V = TypeVar("V", bound=Versioned)
OnChange = Callable[[int, str, V | None, V | None], None]


class PartitionedView(Generic[V]):
    """candidate id -> reduced preferences, grouped by partition so a revoked partition drops at once."""

    def __init__(self) -> None:
        self._parts: dict[int, dict[str, V]] = {}

    def get(self, partition: int, candidate_id: str) -> V | None:
        """The value for a candidate in a partition."""
        part = self._parts.get(partition)
        return part.get(candidate_id) if part is not None else None

    def apply(self, partition: int, candidate_id: str, value: V | None) -> tuple[V | None, bool]:
        """Store a newer value (None: erase); return (previous, changed)."""
        part = self._parts.setdefault(partition, {})
        old = part.get(candidate_id)
        if value is None:
            return old, part.pop(candidate_id, None) is not None
        if old is not None and value.version <= old.version:
            return old, False
        part[candidate_id] = value
        return old, True

    def drop(self, partitions: Iterable[int]) -> None:
        """Forget whole partitions (revoked from this instance)."""
        for p in partitions:
            self._parts.pop(p, None)

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts.values())


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
        self.last_rebuild_s = 0.0

    @property
    def assigned(self) -> frozenset[int]:
        """Partitions this reader follows."""
        return frozenset(self._assigned)

    @property
    def caught_up(self) -> bool:
        """True once every assigned partition was read to the high watermark of its rebuild."""
        return self._caught_up.is_set()

    def _apply(self, partition: int, key: bytes | None, value: bytes | None, notify: bool) -> None:
        if key is None:
            return
        candidate_id = key.decode()
        reduced: V | None = None
        if value is not None:
            try:
                snapshot = PREFERENCES_EVENT_ADAPTER.validate_json(value).data
            except ValidationError:
                log.error("undecodable snapshot skipped", extra={"partition": partition})
                if self._on_bad_record is not None:
                    self._on_bad_record("invalid_snapshot")
                return
            reduced = self._reduce(snapshot)
            if notify and self._on_live_snapshot is not None:
                self._on_live_snapshot(snapshot)
        old, changed = self.view.apply(partition, candidate_id, reduced)
        if changed and notify and self._on_change is not None:
            self._on_change(partition, candidate_id, old, reduced)

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

    async def _read_to(self, targets: dict[TopicPartition, int]) -> None:
        pending = {tp: hw for tp, hw in targets.items() if hw > 0}
        while pending:
            batch = await self._consumer.getmany(*pending, timeout_ms=500, max_records=10_000)
            for tp, records in batch.items():
                for r in records:
                    self._apply(tp.partition, r.key, r.value, notify=False)
            for tp in list(pending):
                if await self._consumer.position(tp) >= pending[tp]:
                    del pending[tp]

    async def run(self) -> None:
        """Tail the assigned partitions forever, notifying on every applied change."""
        while True:
            await self._caught_up.wait()
            async with self._lock:
                batch = await self._consumer.getmany(timeout_ms=50, max_records=5_000)
                if batch and self._live_delay_s:
                    await asyncio.sleep(self._live_delay_s)
                for tp, records in batch.items():
                    if tp.partition not in self._assigned:
                        continue
                    for r in records:
                        self._apply(tp.partition, r.key, r.value, notify=True)
                for p in self._assigned:
                    # position(), not last offset + 1: compaction leaves gaps the high watermark skips.
                    self._positions[p] = await self._consumer.position(TopicPartition(self._topic, p))

    def position(self, partition: int) -> int:
        """Offset of the next record this view will apply in a partition."""
        return self._positions.get(partition, 0)

    async def wait_caught_up(self, partitions: Iterable[int], timeout_s: float) -> bool:
        """Wait until the view has applied everything on these partitions as of now; False on timeout.

        This is the acknowledgement barrier of the last-mile consent check.
        """
        tps = [TopicPartition(self._topic, p) for p in set(partitions)]
        targets = await self._offsets.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(self.position(tp.partition) < hw for tp, hw in targets.items()):
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.001)
        return True
