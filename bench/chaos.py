"""make chaos: faults under steady load, reconciled against an oracle computed from the script.

    python -m bench.chaos                   # every scenario
    python -m bench.chaos --only kill-notifier --events 90 --rate 15     # the smoke in make test

The oracle does not read the services' records: from the generator's script and the contract's
id rule (schemas.ids, UUIDv5 of event id + purpose + channel + attempt) it knows which e-mail
every ATS event must produce, including interview reminders that fall due during the run. It then
counts the SMTP sink's raw receipts (no de-duplication): lost = expected with no receipt;
duplicated = more than one receipt, split into "in window" (resends the notifier counted as the
documented provider-accepted/record-not-written window) and "outside". Candidates who revoked
e-mail before their events must receive nothing.

The ATS is librdkafka with its default partitioner (bench/foreign.py): the preference service reads
`ats.events` alone and forwards each accepted event to the router on `ats.accepted`, so every fault
is met on the production path.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx

from bench.foreign import foreign_producer
from bench.generator import candidate
from bench.harness import ROOT, Env, infra, progress, world
from bench.report import write_readme
from deploy.local import stack
from deploy.local.components import COMPONENTS, LocalStackSettings
from deploy.local.smtp_sink import read_index
from schemas.common import Channel
from schemas.ids import notification_id
from schemas.topics import ATS_EVENTS

KEY = {"X-API-Key": "dev-only-api-key"}
TEMPLATE = {
    "ats.application.received": "application_received",
    "ats.stage.changed": "stage_update",
    "ats.interview.scheduled": "interview_invite",
}


def script(env: Env, count: int, now: datetime) -> tuple[list[dict[str, Any]], set[str], list[str]]:
    """Events, the notification ids they must produce, and the candidates who revoke e-mail first."""
    import random

    rng = random.Random(13)
    people = [candidate(i, rng, env.name) for i in range(max(10, count // 3))]
    revokers = [p["id"] for p in people[:3]]
    events, expected = [], set()
    for n in range(count):
        cand = people[n % len(people)]
        kind = (
            "ats.application.received"
            if n < len(people)
            else rng.choice(["ats.stage.changed", "ats.interview.scheduled"])
        )
        data: dict[str, Any] = {
            "candidate": cand,
            "application": {"id": f"app-{cand['id']}", "job_title": "Monteur", "stage": "screening"},
        }
        ev_id = f"{env.name}-e{n}"
        if kind == "ats.interview.scheduled":
            # Two hours and a bit ahead: the 2-hour reminder falls due during the run.
            start = now + timedelta(hours=2, seconds=40 + n % 30)
            data["interview"] = {
                "id": f"iv-{n}",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "location": "Utrecht",
            }
            if cand["id"] not in revokers:
                expected.add(notification_id(ev_id, f"reminder:iv-{n}:2h", Channel.EMAIL, 1))
        events.append(
            {
                "specversion": "1.0",
                "id": ev_id,
                "source": "urn:chaos",
                "type": kind,
                "time": "",
                "subject": cand["id"],
                "data": data,
            }
        )
        if cand["id"] not in revokers:
            expected.add(notification_id(ev_id, TEMPLATE[kind], Channel.EMAIL, 1))
    return events, expected, revokers


async def steady(
    env: Env, events: list[dict[str, Any]], rate: float, fault_at: int, fault: Callable[[], Coroutine[Any, Any, None]]
) -> float:
    """Produce as the ATS (librdkafka) at a steady rate; inject the fault after `fault_at` events; the fault's time.

    librdkafka keeps retrying through a broker restart (within `message.timeout.ms`, 5 minutes by default).
    """
    fault_time = 0.0
    async with foreign_producer(env.local.bootstrap, **{"request.timeout.ms": 60_000, "retry.backoff.ms": 200}) as ats:
        started = time.perf_counter()
        for n, ev in enumerate(events):
            ev["time"] = datetime.now(UTC).isoformat()
            await ats.send(env.kafka.topic(ATS_EVENTS), json.dumps(ev).encode(), ev["subject"].encode())
            if n == fault_at:
                fault_time = time.perf_counter()
                asyncio.get_running_loop().create_task(fault())
            await asyncio.sleep(max(0.0, started + (n + 1) / rate - time.perf_counter()))
    return fault_time


def _restart_process(env: Env, name: str, index: int = 0) -> Callable[[], Coroutine[Any, Any, None]]:
    async def fault() -> None:
        victims = [p for p in env.processes if p.name == name]
        victim = victims[index]
        victim.kill(signal.SIGKILL)
        env.processes.remove(victim)
        await asyncio.sleep(2)
        extra = {"NOTIFIER_SMTP_PORT": victim.env.get("NOTIFIER_SMTP_PORT", "")} if name == "notifier" else {}
        await env.start(name, extra={k: v for k, v in extra.items() if v})

    return fault


def _restart_infra(local: LocalStackSettings, name: str) -> Callable[[], Coroutine[Any, Any, None]]:
    async def fault() -> None:
        comp = next(c for c in COMPONENTS if c.name == name)
        stack.stop(local, name, timeout_s=30)
        await asyncio.sleep(3)
        await stack.start(local, comp)

    return fault


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


async def scenario(local: LocalStackSettings, name: str, count: int, rate: float, workdir: Path) -> dict[str, Any]:
    """Run one fault scenario end to end and reconcile."""
    async with world(local, f"chaos{name.replace('-', '')[:8]}", workdir) as env:
        mail = workdir / f"{env.name}-mail"
        sink = await env.start(
            "smtp-sink", module="deploy.local.smtp_sink", args=("--port", "{port}", "--dir", str(mail))
        )
        smtp = {
            "NOTIFIER_SMTP_PORT": str(sink.port),
            "ROUTER_SCHEDULER_INTERVAL_S": "0.5",
            "KAFKA_SESSION_TIMEOUT_MS": "3000",
        }
        pref = await env.start("preference", extra=smtp)
        for _ in range(3 if name == "kill-one-of-three-routers" else 1):
            await env.start("router", extra=smtp)
        await env.start("notifier", extra=smtp)
        events, expected, revokers = script(env, count, datetime.now(UTC))
        faults = {
            "kill-preference": _restart_process(env, "preference"),
            "kill-router": _restart_process(env, "router"),
            "kill-notifier": _restart_process(env, "notifier"),
            "kill-one-of-three-routers": _restart_process(env, "router", 0),
            "restart-kafka": _restart_infra(local, "kafka"),
            "restart-database": _restart_infra(local, "ferretdb"),
        }
        first_events = await _revoke_first(env, pref.url, revokers, events)
        progress(f"{name}: {count} events at {rate:.0f}/s, fault after {count // 3}")
        fault_wall = datetime.now(UTC) + timedelta(seconds=(count // 3) / rate)
        fault_time = await steady(env, events, rate, count // 3, faults[name])
        recovered = await _settle(mail, expected, limit_s=240)
        receipts = read_index(mail)
        row = reconcile(
            name,
            events,
            expected,
            revokers,
            first_events,
            receipts,
            await window_resends(env),
            recovered - fault_time if recovered else float("nan"),
        )
        # Timing from the event-driven mails only: the reminders fall due at their own scripted times.
        sent_at = {
            notification_id(ev["id"], TEMPLATE[ev["type"]], Channel.EMAIL, 1): datetime.fromisoformat(ev["time"])
            for ev in events
        }
        driven = [m for m in receipts if m["notification_id"] in sent_at]
        delays = [
            (datetime.fromisoformat(m["received_at"]) - sent_at[m["notification_id"]]).total_seconds() for m in driven
        ]
        return {
            **row,
            "outage_s": longest_pause(driven, fault_wall),
            "worst_delay_s": max(delays, default=float("nan")),
            "median_delay_s": sorted(delays)[len(delays) // 2] if delays else float("nan"),
        }


async def _revoke_first(env: Env, url: str, revokers: list[str], events: list[dict[str, Any]]) -> list[str]:
    """Some candidates exist and revoke e-mail before their events arrive."""
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


async def _settle(mail: Path, expected: set[str], limit_s: float) -> float | None:
    """Wait until every expected notification reached the sink; when that happened (or None)."""
    deadline = time.perf_counter() + limit_s
    while time.perf_counter() < deadline:
        if expected <= {m["notification_id"] for m in read_index(mail)}:
            return time.perf_counter()
        await asyncio.sleep(0.5)
    return None


def reconcile(
    name: str,
    events: list[dict[str, Any]],
    expected: set[str],
    revokers: list[str],
    first_events: list[str],
    receipts: list[dict[str, Any]],
    in_window: int,
    recovery_s: float,
) -> dict[str, Any]:
    """Lost, duplicated (in window / outside), sent to revoked candidates."""
    counts = Counter(m["notification_id"] for m in receipts)
    revoked_addresses = {f"kandidaat{int(c[-7:])}@example.org" for c in revokers}
    # A revoker's first event (their application) was sent before they revoked: that e-mail is allowed.
    allowed = {notification_id(e, "application_received", Channel.EMAIL, 1) for e in first_events}
    dups = sum(n - 1 for nid, n in counts.items() if nid in expected and n > 1)
    window = min(dups, in_window)
    return {
        "scenario": name,
        "events": len(events),
        "expected": len(expected),
        "delivered": len(expected & set(counts)),
        "lost": len(expected - set(counts)),
        "duplicated_in_window": window,
        "duplicated_outside": dups - window,
        "sent_after_revocation": sum(
            1 for m in receipts if set(m["rcpt_tos"]) & revoked_addresses and m["notification_id"] not in allowed
        ),
        "recovery_s": recovery_s,
    }


def longest_pause(receipts: list[dict[str, Any]], since: datetime) -> float:
    """The longest time without any delivery after the fault (how long the pipeline stood still).

    Give it the mails of the steady stream only: between its end and scripted reminders there is
    nothing to deliver, which is not a pause.
    """
    stamps = sorted(datetime.fromisoformat(m["received_at"]) for m in receipts)
    after = [since, *(t for t in stamps if t > since)]
    return max(((b - a).total_seconds() for a, b in pairwise(after)), default=0.0)


SCENARIOS = (
    "kill-preference",
    "kill-router",
    "kill-notifier",
    "restart-kafka",
    "restart-database",
    "kill-one-of-three-routers",
)


def table(rows: list[dict[str, Any]]) -> str:
    """The printed result."""
    head = (
        "| scenario | events | expected | delivered | lost | duplicated (in window / outside) "
        "| sent after revocation | longest pause in deliveries | event → mail delay, median / worst |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    lines = [
        f"| {r['scenario']} | {r['events']} | {r['expected']} | {r['delivered']} | {r['lost']} "
        f"| {r['duplicated_in_window']} / {r['duplicated_outside']} | {r['sent_after_revocation']} "
        f"| {r['outage_s']:.1f} s | {r['median_delay_s']:.2f} s / {r['worst_delay_s']:.1f} s |"
        for r in rows
    ]
    return "\n".join([head, *lines])


async def run(names: list[str], count: int, rate: float) -> list[dict[str, Any]]:
    """Every named scenario, one after the other."""
    local = LocalStackSettings()
    started = await infra(local)
    workdir = ROOT / ".local" / "chaos"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return [await scenario(local, n, count, rate, workdir) for n in names]
    finally:
        stack.down(local, started)


def main() -> int:
    """Command-line entry point; exit 1 when anything was lost or doubled outside the window."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=SCENARIOS)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "chaos.json")
    parser.add_argument("--write-readme", action="store_true", help="refresh the README's chaos table")
    args = parser.parse_args()
    rows = asyncio.run(run(args.only or list(SCENARIOS), args.events, args.rate))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    if args.write_readme:
        write_readme(ROOT / "README.md", table(rows), "chaos-table")
    bad = any(r["lost"] or r["duplicated_outside"] or r["sent_after_revocation"] for r in rows)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
