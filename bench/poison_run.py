"""The `poison` chaos scenario: hostile records on every topic the services read, under the steady stream.

After a third of the stream, the ATS's client (librdkafka) writes the catalogue of bench/poison.py
(about 80 records, eleven of them 1 MB) and two events of a candidate with an internationalised
address. The run then proves, from outside the services:
- nothing lost or doubled, and no other candidate's e-mail delayed beyond `DELAY_LIMIT_S` (the worst
  delay is reported, and every event beyond the limit by candidate);
- the international address delivered, and no mail to a poison candidate;
- every poison record in its topic's DLQ, with a reason, by every service that reads the topic;
- every service ready with zero lag again (its own gauge and the broker's offsets agree), never
  ready while one of its partitions stood still, and none stuck at the end;
- the connector (bench/poison_connector.py) still writing notes: every candidate a Greenhouse webhook
  linked, before the poison or right after it, gets the note of their e-mail, no line twice.
The services' stall time is lowered to `STALL_AFTER_S` for this run, so a stuck partition shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.foreign import Placement, foreign_producer
from bench.harness import Env, progress, world
from bench.oracle import DEFAULT_REMINDERS, Reminders, own_mails, reconcile, script, timing
from bench.poison import SERVICES, Poison, catalogue, grouped_inputs, idn_events, read_topics
from bench.poison_check import Injected, Outcome, outcomes
from bench.poison_connector import link, notes, start_connector
from bench.poison_health import Health, Probe, health
from bench.poison_verdict import Evidence, verdict
from bench.probing import DlqReader, Monitor
from bench.stream import revoke_first, settle, start_stack, steady, window_resends
from deploy.local.components import LocalStackSettings
from deploy.local.smtp_sink import read_index
from schemas.topics import ATS_EVENTS, dlq_topic

STALL_AFTER_S = 10.0
GRACE_S = 7.0  # the services measure lag every 5 s: one interval and two probes of slack
DELAY_LIMIT_S = 5.0
RECOVER_LIMIT_S = 90.0  # after the injection: ready with zero lag, and every dead letter in place
LINKED_BEFORE, LINKED_AFTER = ["7001", "7002"], ["7003", "7004"]  # Greenhouse candidates the connector links
MAX_MESSAGE = 1_048_588  # the broker's default max.message.bytes: a 1 MB poison record fits


async def inject(env: Env, poisons: list[Poison], idn: list[dict[str, Any]]) -> list[Injected]:
    """Write the poison and the international candidate's events as the ATS's client; where each landed."""
    queued: list[tuple[Poison, Placement, datetime]] = []
    async with foreign_producer(env.local.bootstrap, **{"message.max.bytes": MAX_MESSAGE}) as producer:
        for p in poisons:
            placement = Placement()
            queued.append((p, placement, datetime.now(UTC)))
            await producer.send(env.kafka.topic(p.topic), p.value, p.key, p.partition, p.headers, placement)
        for ev in idn:
            ev["time"] = datetime.now(UTC).isoformat()
            await producer.send(env.kafka.topic(ATS_EVENTS), json.dumps(ev).encode(), ev["subject"].encode())
    return [Injected(p, env.kafka.topic(p.topic), pl.partition, pl.offset, at) for p, pl, at in queued]


@contextlib.asynccontextmanager
async def monitoring(monitor: Monitor) -> AsyncIterator[None]:
    """Probe the services for as long as the block runs."""
    stop = asyncio.Event()
    task = asyncio.create_task(monitor.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


def last_poison(injected: list[Injected], service: str) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the last poison offset there, on the topics the service reads in groups."""
    out: dict[tuple[str, int], int] = {}
    for inj in injected:
        if inj.poison.topic in grouped_inputs(service):
            where = (inj.topic, inj.partition)
            out[where] = max(out.get(where, -1), inj.offset)
    return out


async def aftermath(
    monitor: Monitor, dlq: DlqReader, injected: list[Injected], prefix: str, origin: float, settled: float
) -> tuple[list[Health], list[Outcome]]:
    """Wait (bounded) until every service recovered and every poison record has all its dead letters."""
    deadline = origin + RECOVER_LIMIT_S
    while True:
        results = outcomes(injected, await dlq.read(), prefix)
        healths = [
            health(p, STALL_AFTER_S, GRACE_S, settled, last_poison(injected, name))
            for name, p in monitor.probes(origin).items()
            if p
        ]
        done = all(not o.missing for o in results) and all(h.recovered_s is not None for h in healths)
        if (done and len(healths) == len(SERVICES)) or time.perf_counter() > deadline:
            return healths, results
        await asyncio.sleep(1.0)


@dataclass
class Stream:
    """The steady stream of one run and the poison injected into it."""

    events: list[dict[str, Any]]
    idn: list[dict[str, Any]]
    expected: set[str]
    revokers: list[str]
    first_events: list[str] = field(default_factory=list)
    injected: list[Injected] = field(default_factory=list)
    clock: dict[str, Any] = field(default_factory=dict)  # origin, wall, settled, fault (when the poison began)


async def stream_with_poison(
    env: Env,
    url: str,
    count: int,
    rate: float,
    reminders: Reminders,
    with_orphan: bool,
    after_poison: Callable[[], Awaitable[None]],
) -> Stream:
    """The steady stream (its script made now, so reminders fall due when scripted), poisoned after a third."""
    now = datetime.now(UTC)
    events, expected, revokers = script(env.name, count, now, reminders)
    idn = idn_events(env.name, now)
    run = Stream(events, idn, expected | own_mails(idn), revokers)
    victim = next(e["subject"] for e in events if e["subject"] not in revokers)
    poisons = catalogue(env.name, env.partitions, victim, now, with_orphan=with_orphan)
    run.first_events = await revoke_first(env, url, revokers, events)

    async def fault() -> None:
        run.clock["origin"], run.clock["wall"] = time.perf_counter(), datetime.now(UTC)
        run.injected.extend(await inject(env, poisons, run.idn))
        run.clock["settled"] = time.perf_counter() - run.clock["origin"]
        await after_poison()
        progress(f"poison: {len(run.injected)} records on {len(read_topics())} topics in {run.clock['settled']:.1f} s")

    progress(f"poison: {count} events at {rate:.0f}/s, poison after {count // 3}")
    run.clock["fault"] = await steady(env, events, rate, count // 3, fault)
    return run


async def poison_scenario(
    local: LocalStackSettings,
    count: int,
    rate: float,
    workdir: Path,
    reminders: Reminders = DEFAULT_REMINDERS,
    with_orphan: bool = False,
) -> dict[str, Any]:
    """Run the poison scenario end to end and reconcile it (`with_orphan`: see bench.poison.orphan)."""
    async with world(local, "chaospoison", workdir) as env:
        mail = workdir / f"{env.name}-mail"
        pref = await start_stack(env, mail, extra={f"{s.upper()}_STALL_AFTER_S": str(STALL_AFTER_S) for s in SERVICES})
        connector, ats = await start_connector(env, STALL_AFTER_S)
        await link(connector, env.name, LINKED_BEFORE, datetime.now(UTC))
        monitor = Monitor(
            env.local.bootstrap,
            {p.name: p.url for p in env.processes if p.name in SERVICES},
            {s: {env.kafka.topic(t) for t in grouped_inputs(s)} for s in SERVICES},
        )
        dlqs = [env.kafka.topic(dlq_topic(t)) for t in read_topics()]
        async with monitoring(monitor), DlqReader(env.local.bootstrap, dlqs, env.partitions) as dlq:
            await monitor.covering(30.0)  # so every probe from the injection on is evidence
            run = await stream_with_poison(
                env,
                pref.url,
                count,
                rate,
                reminders,
                with_orphan,
                lambda: link(connector, env.name, LINKED_AFTER, datetime.now(UTC)),
            )
            arrived = await settle(mail, run.expected, limit_s=240)
            healths, results = await aftermath(
                monitor, dlq, run.injected, f"{env.name}.", run.clock["origin"], run.clock["settled"]
            )
        save_probes(monitor.probes(run.clock["origin"]), probes_file := workdir / f"{env.name}-probes.json")
        receipts = read_index(mail)
        everyone = run.events + run.idn
        row = reconcile(
            "poison",
            everyone,
            run.expected,
            run.revokers,
            run.first_events,
            receipts,
            await window_resends(env),
            arrived - run.clock["fault"] if arrived else float("nan"),
        )
        written = await notes(ats, LINKED_BEFORE + LINKED_AFTER)
        evidence = Evidence(everyone, run.idn, run.expected, receipts, healths, results, dlq.unreadable, written)
        found = verdict(evidence, env.name, DELAY_LIMIT_S, RECOVER_LIMIT_S) | {"stall_after_s": STALL_AFTER_S}
        extra = {"monitor_failures": monitor.failures[:5], "probes_file": str(probes_file)}
        return row | timing(everyone, receipts, run.clock["wall"]) | found | extra


def save_probes(probes: dict[str, list[Probe]], path: Path) -> None:
    """Every probe as JSON, for whoever has to find out why a service did not come through."""

    def positions(p: Probe) -> dict[str, tuple[int, int]] | None:
        return None if p.positions is None else {f"{g} {t}/{n}": v for (g, t, n), v in p.positions.items()}

    path.write_text(json.dumps({s: [asdict(p) | {"positions": positions(p)} for p in ps] for s, ps in probes.items()}))
