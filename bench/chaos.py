"""make chaos: faults under steady load, reconciled against an oracle computed from the script.

    python -m bench.chaos                   # every scenario
    python -m bench.chaos --only kill-notifier --events 90 --rate 15     # the smoke in make test
    python -m bench.chaos --only poison --events 60 --rate 15 --reminders-at 12  # the poison smoke

The oracle (bench/oracle.py) does not read the services' records: from the generator's script and
the contract's id rule it knows which e-mail every ATS event must produce, including interview
reminders that fall due during the run. It then counts the SMTP sink's raw receipts (no
de-duplication): lost = expected with no receipt; duplicated = more than one receipt, split into
"in window" (resends the notifier counted as the documented provider-accepted/record-not-written
window) and "outside". Candidates who revoked e-mail before their events must receive nothing.

The faults: kill -9 a service (and start it again), restart the broker or the database, kill one of
three routers, and `poison` (bench/poison_run.py): hostile records on every topic the services read,
including a valid event without a snapshot on ats.accepted (an orphan).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.chaos_report import readme_section, table
from bench.harness import ROOT, Env, infra, progress, world
from bench.oracle import DEFAULT_REMINDERS, Reminders, reconcile, script, timing
from bench.poison_run import poison_scenario
from bench.report import read_section, write_readme
from bench.stream import revoke_first, settle, start_stack, steady, window_resends
from deploy.local import stack
from deploy.local.components import COMPONENTS, LocalStackSettings
from deploy.local.smtp_sink import read_index

Fault = Callable[[], Coroutine[Any, Any, None]]


def _restart_process(env: Env, name: str, index: int = 0) -> Fault:
    async def fault() -> None:
        victims = [p for p in env.processes if p.name == name]
        victim = victims[index]
        victim.kill(signal.SIGKILL)
        env.processes.remove(victim)
        await asyncio.sleep(2)
        extra = {"NOTIFIER_SMTP_PORT": victim.env.get("NOTIFIER_SMTP_PORT", "")} if name == "notifier" else {}
        await env.start(name, extra={k: v for k, v in extra.items() if v})

    return fault


def _restart_infra(local: LocalStackSettings, name: str) -> Fault:
    async def fault() -> None:
        comp = next(c for c in COMPONENTS if c.name == name)
        stack.stop(local, name, timeout_s=30)
        await asyncio.sleep(3)
        await stack.start(local, comp)

    return fault


async def scenario(
    local: LocalStackSettings,
    name: str,
    count: int,
    rate: float,
    workdir: Path,
    reminders: Reminders = DEFAULT_REMINDERS,
) -> dict[str, Any]:
    """Run one fault scenario end to end and reconcile."""
    if name == "poison":
        return await poison_scenario(local, count, rate, workdir, reminders, with_orphan=True)
    async with world(local, f"chaos{name.replace('-', '')[:8]}", workdir) as env:
        mail = workdir / f"{env.name}-mail"
        pref = await start_stack(env, mail, routers=3 if name == "kill-one-of-three-routers" else 1)
        events, expected, revokers = script(env.name, count, datetime.now(UTC), reminders)
        faults = {
            "kill-preference": _restart_process(env, "preference"),
            "kill-router": _restart_process(env, "router"),
            "kill-notifier": _restart_process(env, "notifier"),
            "kill-one-of-three-routers": _restart_process(env, "router", 0),
            "restart-kafka": _restart_infra(local, "kafka"),
            "restart-database": _restart_infra(local, "ferretdb"),
        }
        first_events = await revoke_first(env, pref.url, revokers, events)
        progress(f"{name}: {count} events at {rate:.0f}/s, fault after {count // 3}")
        fault_wall = datetime.now(UTC) + timedelta(seconds=(count // 3) / rate)
        fault_time = await steady(env, events, rate, count // 3, faults[name])
        recovered = await settle(mail, expected, limit_s=240)
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
        return row | timing(events, receipts, fault_wall)


SCENARIOS = (
    "kill-preference",
    "kill-router",
    "kill-notifier",
    "restart-kafka",
    "restart-database",
    "kill-one-of-three-routers",
    "poison",
)


def failed(row: dict[str, Any]) -> bool:
    """Anything lost, doubled outside the window, sent after a revocation, or a problem the scenario found."""
    return bool(row["lost"] or row["duplicated_outside"] or row["sent_after_revocation"] or row.get("problems"))


async def run(names: list[str], count: int, rate: float, reminders: Reminders) -> list[dict[str, Any]]:
    """Every named scenario, one after the other."""
    local = LocalStackSettings()
    started = await infra(local)
    workdir = ROOT / ".local" / "chaos"
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return [await scenario(local, n, count, rate, workdir, reminders) for n in names]
    finally:
        stack.down(local, started)


def main() -> int:
    """Command-line entry point; exit 1 when a scenario failed (see `failed`)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", action="append", choices=SCENARIOS)
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--rate", type=float, default=20.0)
    parser.add_argument(
        "--reminders-at",
        type=int,
        default=Reminders.first_s,
        help="seconds after the script starts when the first interview reminder falls due (spread over as many)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "chaos.json")
    parser.add_argument(
        "--write-readme", action="store_true", help="refresh the README's chaos tables (the rows of the scenarios run)"
    )
    args = parser.parse_args()
    reminders = Reminders(args.reminders_at, min(Reminders.spread_s, args.reminders_at))
    rows = asyncio.run(run(args.only or list(SCENARIOS), args.events, args.rate, reminders))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2) + "\n")
    print(table(rows))
    for row in rows:
        for line in row.get("problems", []):
            print(f"{row['scenario']}: {line}")
    if args.write_readme:
        readme = ROOT / "README.md"
        write_readme(readme, readme_section(read_section(readme, "chaos-table"), rows, SCENARIOS), "chaos-table")
    return 1 if any(failed(r) for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
