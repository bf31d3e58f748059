"""The whole pipeline: sustained throughput, latency at half load, preference API and propagation."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from bench.foreign import foreign_producer
from bench.generator import events
from bench.harness import Env, cpu_seconds, process_roots, progress, quantile
from bench.stages import latency_summary, produce_all
from deploy.local.smtp_sink import read_index
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from tests.support import read_json

KEY = {"X-API-Key": "dev-only-api-key"}


async def start_pipeline(env: Env, mail_dir: Path) -> dict[str, Any]:
    """SMTP sink, then preference, router, notifier as separate processes."""
    sink = await env.start(
        "smtp-sink", module="deploy.local.smtp_sink", args=("--port", "{port}", "--dir", str(mail_dir))
    )
    pref = await env.start("preference")
    await env.start("router")
    await env.start("notifier", extra={"NOTIFIER_SMTP_PORT": str(sink.port)})
    return {"preference": pref.url}


def count_mails(mail_dir: Path, since: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """(messages recorded, bytes read) of the sink's index, reading only what was added `since`."""
    index = mail_dir / "index.jsonl"
    if not index.exists():
        return since
    count, offset = since
    with index.open("rb") as f:
        f.seek(offset)
        added = f.read()
    end = added.rfind(b"\n") + 1  # a line still being written is counted next time
    return count + added[:end].count(b"\n"), offset + end


async def wait_mails(mail_dir: Path, target: int, limit_s: float) -> list[dict[str, Any]]:
    """Wait until the sink holds `target` messages, with a progress line every 10 s."""
    started = time.perf_counter()
    last_report = started
    seen = (0, 0)
    while True:
        seen = count_mails(mail_dir, seen)
        if seen[0] >= target:
            return read_index(mail_dir)
        now = time.perf_counter()
        if now - started > limit_s:
            raise TimeoutError(f"{seen[0]}/{target} mails after {limit_s:.0f}s")
        if now - last_report >= 10:
            progress(f"  ... {seen[0]}/{target} mails after {now - started:.0f}s")
            last_report = now
        await asyncio.sleep(0.5)


async def churn(url: str, candidates: list[str], per_s: float, stop: asyncio.Event) -> int:
    """Candidates change their preferences while the load runs (language, voicemail, call times: choices
    that keep e-mail as the channel, so every event still yields exactly one e-mail). Returns how many
    changes were acknowledged; a candidate whose profile does not exist yet answers 404 and is skipped.
    """
    rng = random.Random(5)
    changes = ({"language": "en", "voicemail": False}, {"language": "nl", "preferred_call_times": "na 17:00"})
    done = 0
    async with httpx.AsyncClient(base_url=url, headers=KEY, timeout=10) as client:
        while not stop.is_set():
            r = await client.patch(f"/v1/candidates/{rng.choice(candidates)}/preferences", json=changes[done % 2])
            done += r.status_code == 200
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1 / per_s)
    return done


async def throughput(
    env: Env, mail_dir: Path, count: int, candidates: int, churn_url: str | None = None, churn_per_s: float = 5.0
) -> dict[str, Any]:
    """As fast as possible: ATS events in per second, deliveries out per second (with preference churn)."""
    script = list(events(count, candidates, prefix=env.name))
    before, _ = count_mails(mail_dir)
    roots = process_roots(env)
    cpu_before, driver_before = cpu_seconds(roots), time.process_time()
    services = {p.name: p.url for p in env.processes if p.name in ("preference", "router", "notifier")}
    db_before = await database_activity(services)
    stop = asyncio.Event()
    early = [f"{env.name}c{i:07d}" for i in range(min(candidates, 2000))]  # created first
    churning = asyncio.create_task(churn(churn_url, early, churn_per_s, stop)) if churn_url else None
    started = time.perf_counter()
    produce_s = await produce_all(env, ATS_EVENTS, script)
    try:
        mails = (await wait_mails(mail_dir, before + count, limit_s=max(120, count / 50)))[before:]
    finally:
        stop.set()
        changes = await churning if churning else 0
    total_s = time.perf_counter() - started
    cpu = {k: v - cpu_before[k] for k, v in cpu_seconds(roots).items()}
    cpu["driver"] = time.process_time() - driver_before
    db_after = await database_activity(services)
    per_delivery = {
        svc: {k: round((v - db_before[svc].get(k, 0.0)) / count, 3) for k, v in sorted(counts.items())}
        for svc, counts in db_after.items()
    }
    stamps = sorted(datetime.fromisoformat(m["received_at"]).timestamp() for m in mails)
    # Sustained rate: the middle 80% of deliveries, away from warm-up and the tail.
    lo, hi = int(len(stamps) * 0.1), int(len(stamps) * 0.9)
    sustained = (hi - lo) / max(1e-6, stamps[hi - 1] - stamps[lo])
    return {
        "events": count,
        "in_per_s": count / produce_s,
        "out_per_s": sustained,
        "overall_per_s": count / total_s,
        "seconds": total_s,
        "preference_changes": changes,
        # Where the time goes: CPU milliseconds per delivery in each process (2 cores for all of them).
        "cpu_ms_per_delivery": {k: round(v * 1000 / count, 3) for k, v in sorted(cpu.items())},
        # What each service asked of the database per delivery: commands and documents written, by collection.
        "database_per_delivery": {svc: {k: v for k, v in c.items() if v} for svc, c in per_delivery.items()},
        "cores": os.cpu_count(),
    }


async def database_activity(urls: dict[str, str]) -> dict[str, dict[str, float]]:
    """Each service's database counters now: `commands <name> <collection>` and `writes <collection>`."""
    out: dict[str, dict[str, float]] = {}
    async with httpx.AsyncClient(timeout=5) as client:
        for service, url in urls.items():
            counts: dict[str, float] = {}
            for line in (await client.get(f"{url}/metrics")).text.splitlines():
                for metric, label in (("database_commands_total{", "commands"), ("database_writes_total{", "writes")):
                    if line.startswith(metric):
                        labels = dict(kv.split("=", 1) for kv in line[len(metric) : line.index("}")].split(","))
                        name = f"{label} {labels['command'].strip(chr(34))} {labels['collection'].strip(chr(34))}"
                        counts[name] = counts.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
            out[service] = counts
    return out


async def documents(env: Env, deliveries: int) -> dict[str, float]:
    """Documents each collection holds per delivery after a run (what the services left written).

    Documents written and deleted again (a released hold) and in-place updates are not in it; the
    figure is the lower bound of the database's write work, per collection.
    """
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(env.local.mongodb_url)
    try:
        db = client[env.name]
        names = sorted(await db.list_collection_names())
        counts = [await db[n].count_documents({}) for n in names]
    finally:
        await client.close()
    per = {n: round(c / max(1, deliveries), 3) for n, c in zip(names, counts, strict=True) if c}
    return {**per, "total": round(sum(per.values()), 3)}


async def latency(env: Env, rate: float, seconds: float, candidates: int, seed: int = 11) -> dict[str, Any]:
    """At a fixed rate from the ATS (librdkafka): ATS event time -> provider accepted (the notifier's `sent`)."""
    count = int(rate * seconds)
    ids: set[str] = set()
    interval = 1.0 / rate
    async with foreign_producer(env.local.bootstrap) as producer:
        started = time.perf_counter()
        for n, scripted in enumerate(events(count + candidates, candidates, seed=seed, prefix=env.name)):
            if n < candidates:
                continue  # the same candidates as the throughput run: existing profiles
            value = json.loads(scripted.value)
            value["time"] = datetime.now(UTC).isoformat()
            ids.add(value["id"])
            await producer.send(env.kafka.topic(ATS_EVENTS), json.dumps(value).encode(), scripted.key.encode())
            await asyncio.sleep(max(0.0, started + (n - candidates + 1) * interval - time.perf_counter()))
    samples, decided = await _latencies(env, ids, limit_s=120)
    if len(samples) < count:  # an event that never arrived would otherwise just be missing from the quantiles
        progress(f"  latency: only {len(samples)}/{count} events reached `sent` within 120 s")
    # Where the time goes: up to the router's decision (preference service, two hops) and after it.
    split = {f"decided_{k}": v for k, v in latency_summary(decided).items()} if decided else {}
    return {"rate_per_s": rate, "events": count, "sent": len(samples), **latency_summary(samples), **split}


async def _latencies(env: Env, ids: set[str], limit_s: float) -> tuple[list[float], list[float]]:
    """Per event that reached `sent`: ATS event -> provider accepted, and ATS event -> the router's decision."""
    deadline = time.perf_counter() + limit_s
    while True:
        states = [
            e["data"] for e in await read_json(env.kafka, NOTIFICATIONS_STATUS) if e["data"]["ats_event_id"] in ids
        ]
        sent = [s for s in states if s["status"] == "sent"]
        if len(sent) >= len(ids) or time.perf_counter() > deadline:
            break
        await asyncio.sleep(0.5)
    decided = {s["notification_id"]: s["occurred_at"] for s in states if s["status"] == "queued"}

    def since_event(s: dict[str, Any], at: str) -> float:
        return (datetime.fromisoformat(at) - datetime.fromisoformat(s["event_time"])).total_seconds()

    return (
        [since_event(s, s["occurred_at"]) for s in sent],
        [since_event(s, decided[s["notification_id"]]) for s in sent if s["notification_id"] in decided],
    )


async def preference_api(url: str, candidates: list[str], requests: int, concurrency: int) -> dict[str, Any]:
    """API call -> acknowledgement (the snapshot is on the topic): sequential p50/p99, and concurrent rate."""
    orders = (["sms", "email"], ["email", "sms"], ["whatsapp", "email"], ["email"])
    rng = random.Random(3)
    async with httpx.AsyncClient(base_url=url, headers=KEY, timeout=10) as client:
        samples = []
        for i in range(requests):
            cid = rng.choice(candidates)
            t0 = time.perf_counter()
            r = await client.patch(f"/v1/candidates/{cid}/preferences", json={"channel_order": orders[i % 4]})
            samples.append(time.perf_counter() - t0)
            r.raise_for_status()
        t0 = time.perf_counter()
        queue = list(range(requests))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await client.patch(
                    f"/v1/candidates/{rng.choice(candidates)}/preferences", json={"channel_order": orders[i % 4]}
                )

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        concurrent_rate = requests / (time.perf_counter() - t0)
    return {"requests": requests, **latency_summary(samples), "concurrent_per_s": concurrent_rate}


async def propagation_buckets(urls: dict[str, str]) -> dict[str, list[tuple[float, float]]]:
    """Each service's stored -> applied histogram buckets, as they are now."""
    async with httpx.AsyncClient(timeout=5) as client:
        return {
            service: _buckets((await client.get(f"{url}/metrics")).text, "preference_propagation_seconds", service)
            for service, url in urls.items()
        }


async def propagation(urls: dict[str, str], before: dict[str, list[tuple[float, float]]]) -> dict[str, Any]:
    """Stored -> applied in each view for the changes made since `before` (an upper bound of ack -> applied).

    Read from the services' own histograms, minus what they held before the preference API stage, so
    the figure covers the API's changes and not the backlog of the throughput run.
    """
    out: dict[str, Any] = {}
    for service, buckets in (await propagation_buckets(urls)).items():
        earlier = dict(before.get(service, []))
        delta = [(le, count - earlier.get(le, 0.0)) for le, count in buckets]
        out[f"{service}_p50_ms"] = _hist_quantile(delta, 0.5) * 1000
        out[f"{service}_p99_ms"] = _hist_quantile(delta, 0.99) * 1000
        out[f"{service}_samples"] = delta[-1][1] if delta else 0
    return out


def _buckets(text: str, metric: str, service: str) -> list[tuple[float, float]]:
    rows = []
    for line in text.splitlines():
        if line.startswith(f"{metric}_bucket{{") and f'service="{service}"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            rows.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    return sorted(rows)


def _hist_quantile(buckets: list[tuple[float, float]], q: float) -> float:
    """Prometheus-style linear interpolation inside the bucket holding the quantile."""
    if not buckets or buckets[-1][1] == 0:
        return float("nan")
    rank = q * buckets[-1][1]
    prev_le, prev_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank:
            if le == float("inf"):
                return prev_le
            return prev_le + (le - prev_le) * ((rank - prev_count) / max(1e-9, count - prev_count))
        prev_le, prev_count = le, count
    return prev_le


def quantile_ms(samples: list[float], q: float) -> float:
    """A quantile in milliseconds."""
    return quantile(samples, q) * 1000


__all__ = [
    "documents",
    "latency",
    "preference_api",
    "progress",
    "propagation",
    "propagation_buckets",
    "start_pipeline",
    "throughput",
]
