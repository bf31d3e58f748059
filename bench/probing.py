"""Looking at a running world from outside: the services' probes and lag, and the dead letters on its DLQs."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Iterable
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families

from bench.poison_check import DeadLetter, dead_letter
from bench.poison_health import Key, Probe


def own_lag(metrics: str) -> dict[Key, float]:
    """The `kafka_consumer_lag` samples of a Prometheus exposition, by (group, topic, partition)."""
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(metrics):
        if family.name == "kafka_consumer_lag":
            for s in family.samples:
                out[(s.labels["group"], s.labels["topic"], int(s.labels["partition"]))] = s.value
    return out


class Monitor:
    """Probes each service once a second: /ready, /metrics, and the lag of its groups measured at the broker.

    The groups, topics and partitions a service consumes are taken from its own lag gauge's labels;
    their lag and committed offsets are then asked of the broker directly, so a service that misreports
    either is caught. Topics are fresh in every world, so a partition without a commit lags by its end offset.
    A probe whose gauge does not cover every topic the service reads in a group (`inputs`) proves nothing:
    its positions are None (so does a probe the broker did not answer).
    """

    def __init__(self, bootstrap: str, services: dict[str, str], inputs: dict[str, set[str]]) -> None:
        self._bootstrap = bootstrap
        self._services = services  # name -> base URL
        self._inputs = inputs  # name -> physical topics it reads in consumer groups
        self._seen: list[tuple[float, str, bool, tuple[str, ...], dict[Key, float] | None]] = []
        self._measured: list[dict[Key, tuple[int, int]] | None] = []
        self.failures: list[str] = []  # why a measurement at the broker failed (that probe then proves nothing)

    def probes(self, origin: float) -> dict[str, list[Probe]]:
        """Every probe so far, per service, with times relative to `origin` (a perf_counter reading)."""
        out: dict[str, list[Probe]] = {name: [] for name in self._services}
        for (at, name, ready, reasons, lags), measured in zip(self._seen, self._measured, strict=True):
            own = lags or {}
            # The gauge not yet covering every input, or the broker not answering: such a probe proves nothing.
            covered = measured is not None and self._inputs[name] <= {t for _, t, _ in own}
            positions = {k: measured[k] for k in own} if measured is not None and covered else None
            total = math.fsum(lags.values()) if lags is not None else math.nan
            out[name].append(Probe(at - origin, name, ready, reasons, total, positions))
        return out

    async def covering(self, limit_s: float) -> None:
        """Wait until every service's lag gauge covers its inputs (it measures every few seconds from its start)."""
        deadline = time.perf_counter() + limit_s
        while True:
            latest = {name: probes[-1] for name, probes in self.probes(0.0).items() if probes}
            if len(latest) == len(self._services) and all(p.positions is not None for p in latest.values()):
                return
            if time.perf_counter() > deadline:
                short = sorted(set(self._services) - {n for n, p in latest.items() if p.positions is not None})
                raise TimeoutError(f"lag gauges of {short} do not cover their inputs after {limit_s:.0f} s")
            await asyncio.sleep(0.5)

    async def run(self, stop: asyncio.Event, interval_s: float = 1.0) -> None:
        """Probe until `stop` is set."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self._bootstrap, client_id="bench-monitor")
        consumer = AIOKafkaConsumer(bootstrap_servers=self._bootstrap, group_id=None, client_id="bench-monitor")
        await admin.start()
        await consumer.start()
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                while not stop.is_set():
                    said = [(name, *await self._ask(client, url)) for name, url in self._services.items()]
                    keys = {k for *_, lags in said for k in (lags or {})}
                    measured = await self._measure(admin, consumer, keys)
                    at = time.perf_counter()
                    for name, ready, reasons, lags in said:
                        self._seen.append((at, name, ready, reasons, lags))
                        self._measured.append(measured)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), interval_s)
        finally:
            await consumer.stop()
            await admin.close()

    async def _ask(self, client: httpx.AsyncClient, url: str) -> tuple[bool, tuple[str, ...], dict[Key, float] | None]:
        """(ready, pending conditions, own lag); a service that does not answer is not ready, its lag unknown."""
        try:
            ready = await client.get(f"{url}/ready")
            metrics = await client.get(f"{url}/metrics")
        except httpx.HTTPError as exc:
            return False, (f"unreachable: {type(exc).__name__}",), None
        pending = () if ready.status_code == 200 else tuple(ready.json().get("pending", ["?"]))
        return ready.status_code == 200, pending, own_lag(metrics.text)

    async def _measure(
        self, admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, keys: set[Key]
    ) -> dict[Key, tuple[int, int]] | None:
        """(lag, committed offset) of each (group, topic, partition), asked of the broker; None when it fails."""
        tps = sorted({TopicPartition(t, p) for _, t, p in keys})
        if not tps:
            return {}
        try:
            ends = await consumer.end_offsets(tps)
            committed: dict[str, dict[TopicPartition, Any]] = {}
            for group in sorted({g for g, _, _ in keys}):
                committed[group] = await admin.list_consumer_group_offsets(group)
        except Exception as exc:  # noqa: BLE001 - a broker hiccup costs one probe, not the run
            self.failures.append(f"{type(exc).__name__}: {exc}")
            return None
        out = {}
        for group, topic, partition in keys:
            tp = TopicPartition(topic, partition)
            meta = committed[group].get(tp)
            offset = meta.offset if meta is not None and meta.offset >= 0 else 0
            out[(group, topic, partition)] = (max(0, ends[tp] - offset), offset)
        return out


class DlqReader:
    """Reads the dead letters of some DLQ topics from the beginning, picking up where it left off."""

    def __init__(self, bootstrap: str, topics: Iterable[str], partitions: int) -> None:
        self._tps = [TopicPartition(t, p) for t in topics for p in range(partitions)]
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=4 * 1024 * 1024,  # 1 MB poison comes back as 1 MB dead letters
        )
        self.letters: list[DeadLetter] = []
        self.unreadable = 0  # records on a DLQ without the headers that say where they came from

    async def __aenter__(self) -> DlqReader:
        await self._consumer.start()
        self._consumer.assign(self._tps)
        await self._consumer.seek_to_beginning(*self._tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    async def read(self) -> list[DeadLetter]:
        """Everything on the DLQs up to their end offsets as of now."""
        ends = await self._consumer.end_offsets(self._tps)
        while [tp for tp, end in ends.items() if await self._consumer.position(tp) < end]:
            for records in (await self._consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    letter = dead_letter(r.headers, r.key, r.value)
                    if letter is None:
                        self.unreadable += 1
                    else:
                        self.letters.append(letter)
        return self.letters
