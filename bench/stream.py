"""The chaos runs' steady stream: the stack it runs on, the ATS producing at a steady rate, and waiting for it.

The ATS is librdkafka with its default partitioner (bench/foreign.py): the preference service reads
`ats.events` alone and forwards each accepted event to the router on `ats.accepted`, so every fault
is met on the production path.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench.foreign import foreign_producer
from bench.harness import Env
from deploy.local.procs import ServiceProcess
from deploy.local.smtp_sink import read_index
from schemas.topics import ATS_EVENTS

KEY = {"X-API-Key": "dev-only-api-key"}


async def start_stack(env: Env, mail: Path, routers: int = 1, extra: dict[str, str] | None = None) -> ServiceProcess:
    """SMTP sink, preference, router(s), notifier, each ready; the preference service's process."""
    sink = await env.start("smtp-sink", module="deploy.local.smtp_sink", args=("--port", "{port}", "--dir", str(mail)))
    config = {
        "NOTIFIER_SMTP_PORT": str(sink.port),
        "ROUTER_SCHEDULER_INTERVAL_S": "0.5",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
        **(extra or {}),
    }
    pref = await env.start("preference", extra=config)
    for _ in range(routers):
        await env.start("router", extra=config)
    await env.start("notifier", extra=config)
    return pref


async def steady(
    env: Env, events: list[dict[str, Any]], rate: float, fault_at: int, fault: Callable[[], Coroutine[Any, Any, None]]
) -> float:
    """Produce as the ATS (librdkafka) at a steady rate; inject the fault after `fault_at` events; the fault's time.

    librdkafka keeps retrying through a broker restart (within `message.timeout.ms`, 5 minutes by default).
    The fault runs as its own task; it is awaited before this returns, so its failure is not lost.
    """
    fault_time, task = 0.0, None
    async with foreign_producer(env.local.bootstrap, **{"request.timeout.ms": 60_000, "retry.backoff.ms": 200}) as ats:
        started = time.perf_counter()
        for n, ev in enumerate(events):
            ev["time"] = datetime.now(UTC).isoformat()
            await ats.send(env.kafka.topic(ATS_EVENTS), json.dumps(ev).encode(), ev["subject"].encode())
            if n == fault_at:
                fault_time = time.perf_counter()
                task = asyncio.get_running_loop().create_task(fault())
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    if task is not None:
        await task
    return fault_time


async def revoke_first(env: Env, url: str, revokers: list[str], events: list[dict[str, Any]]) -> list[str]:
    """Some candidates exist and revoke e-mail before their events arrive; the ids of their first events."""
    first = [e for e in events if e["subject"] in revokers][: len(revokers)]
    async with foreign_producer(env.local.bootstrap) as ats:
        for ev in first:
            ev["time"] = datetime.now(UTC).isoformat()
            await ats.send(env.kafka.topic(ATS_EVENTS), json.dumps(ev).encode(), ev["subject"].encode())
    async with httpx.AsyncClient(base_url=url, headers=KEY, timeout=10) as client:
        for cid in revokers:
            for _ in range(100):
                if (await client.get(f"/v1/candidates/{cid}/preferences")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            r = await client.post(
                f"/v1/candidates/{cid}/consent", json={"channel": "email", "state": "revoked", "source": "recruiter"}
            )
            r.raise_for_status()
    for ev in first:
        events.remove(ev)
    return [ev["id"] for ev in first]


async def settle(mail: Path, expected: set[str], limit_s: float) -> float | None:
    """Wait until every expected notification reached the sink; when that happened (or None)."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        if expected <= {m["notification_id"] for m in read_index(mail)}:
            return time.perf_counter()
        await asyncio.sleep(0.5)
    return None


async def window_resends(env: Env) -> int:
    """Resends the notifier processes counted as the documented window."""
    total = 0
    async with httpx.AsyncClient(timeout=5) as client:
        for p in env.processes:
            if p.name == "notifier":
                for line in (await client.get(f"{p.url}/metrics")).text.splitlines():
                    if line.startswith("notifier_window_resends_total{"):
                        total += int(float(line.rsplit(" ", 1)[1]))
    return total
