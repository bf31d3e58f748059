"""What every benchmark stage shares: the local stack, fresh topics and databases, processes, counting."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo import AsyncMongoClient

from deploy.local import stack
from deploy.local.components import INFRA, LocalStackSettings
from deploy.local.procs import ServiceProcess
from services.common.kafka import create_topics, delete_prefixed_topics
from services.common.settings import KafkaSettings, MongoSettings

ROOT = Path(__file__).resolve().parents[1]


def progress(message: str) -> None:
    """One line per step, so a long run shows where it is."""
    print(f"bench: {message}", flush=True)


@dataclass
class Env:
    """One isolated world: its own topic prefix and database on the shared broker and FerretDB."""

    local: LocalStackSettings
    name: str
    partitions: int
    workdir: Path
    processes: list[ServiceProcess] = field(default_factory=list)

    @property
    def kafka(self) -> KafkaSettings:
        """Kafka settings of this world."""
        return KafkaSettings(
            bootstrap_servers=self.local.bootstrap, topic_prefix=f"{self.name}.", partitions=self.partitions
        )

    @property
    def mongo(self) -> MongoSettings:
        """MongoDB settings of this world."""
        return MongoSettings(url=self.local.mongodb_url, database=self.name)  # type: ignore[arg-type]

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a service process of this world."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.local.bootstrap,
            "KAFKA_TOPIC_PREFIX": f"{self.name}.",
            "KAFKA_PARTITIONS": str(self.partitions),
            "MONGODB_URL": self.local.mongodb_url,
            "MONGODB_DATABASE": self.name,
            "PREFERENCE_GROUP_ID": f"{self.name}.preference",
            "ROUTER_GROUP_ID": f"{self.name}.router",
            "NOTIFIER_GROUP_PREFIX": f"{self.name}.notifier",
            "LOG_LEVEL": "WARNING",
            "PREFERENCE_LOG_LEVEL": "WARNING",
            "ROUTER_LOG_LEVEL": "WARNING",
            "NOTIFIER_LOG_LEVEL": "WARNING",
            **extra,
        }

    async def start(
        self, name: str, *, module: str | None = None, args: tuple[str, ...] = (), extra: dict[str, str] | None = None
    ) -> ServiceProcess:
        """Start a process of this world and wait for it."""
        proc = ServiceProcess(
            name, self.env(**(extra or {})), self.workdir / f"{self.name}-{name}.log", module=module, args=args
        ).start()
        self.processes.append(proc)
        if module is None:
            await proc.ready(60)
        elif module is not None:
            await proc.listening()
        return proc

    def stop_all(self) -> None:
        """Stop every process this world started."""
        for proc in reversed(self.processes):
            proc.stop()
        self.processes.clear()


async def infra(local: LocalStackSettings) -> list[str]:
    """Kafka and FerretDB up (started here if needed); a SIGTERM cancels the run so its services stop too."""
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    stack.install(local)
    return await stack.up(local, list(INFRA))


@contextlib.asynccontextmanager
async def world(local: LocalStackSettings, label: str, workdir: Path, partitions: int = 6) -> AsyncIterator[Env]:
    """A fresh topic prefix and database; processes and the database are cleaned up afterwards."""
    name = f"b{int(time.time() * 1000) % 10**10}{label}"
    env = Env(local, name, partitions, workdir)
    await create_topics(env.kafka)
    try:
        yield env
    finally:
        env.stop_all()
        await delete_prefixed_topics(env.kafka)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(local.mongodb_url)
        await client.drop_database(name)
        await client.close()


async def wait_count(kafka: KafkaSettings, topics: Iterable[str], target: int, limit_s: float) -> float:
    """Wait until the topics hold `target` records; seconds it took (raises after `limit_s`).

    One metadata consumer for the whole wait, polled every 0.1 s, with a progress line every 10 s.
    """
    started = last_report = time.perf_counter()
    names = list(topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(kafka.topic(t), p) for t in names for p in range(kafka.partitions)]
        while True:
            have = sum((await consumer.end_offsets(tps)).values())
            now = time.perf_counter()
            if have >= target:
                return now - started
            if now - started > limit_s:
                raise TimeoutError(f"{have}/{target} records on {names} after {limit_s:.0f}s")
            if now - last_report >= 10:
                progress(f"  ... {have}/{target} records after {now - started:.0f}s")
                last_report = now
            await asyncio.sleep(0.1)
    finally:
        await consumer.stop()


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) for every process we may read."""
    tick = os.sysconf("SC_CLK_TCK")
    table = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        table[int(stat.parent.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return table


def cpu_seconds(roots: dict[str, int]) -> dict[str, float]:
    """CPU seconds each named process and its descendants have used so far (Linux /proc)."""
    table = _proc_table()
    out = dict.fromkeys(roots, 0.0)
    owner = {pid: name for name, pid in roots.items()}
    for pid, (_, used) in table.items():
        seen, cur = 0, pid
        while cur not in owner and cur in table and seen < 64:
            cur, seen = table[cur][0], seen + 1
        if cur in owner:
            out[owner[cur]] += used
    return out


def process_roots(env: Env) -> dict[str, int]:
    """The processes a stage runs on: the broker, the database, this world's services, the driver itself."""
    roots = {name: pid for name in ("kafka", "ferretdb") if (pid := stack.our_pid(env.local, name)) is not None}
    roots |= {p.name: p.proc.pid for p in env.processes if p.proc is not None}
    return roots


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]
