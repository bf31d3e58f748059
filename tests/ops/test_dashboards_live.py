"""Proof against reality: Debian's Prometheus scrapes the four services (real processes) during a short
load, then EVERY panel query of every generated dashboard is evaluated through Prometheus's HTTP API and
must return data, and every metric an alert rule uses must have been scraped.

The load exercises what the panels are about: a dead letter (garbage on ats.events), a bounce (the SMTP
sink refuses bounce-* with 550) and the router's fallback to SMS, provider retries (the emulator answers
429 for numbers ending 0002), a quiet-hour hold (the candidate lives where it is 02:00 now) released by a
time zone change, a silent interview invitation (a reply window of two seconds) followed up and handed to
a recruiter, and a STOP reply that revokes SMS consent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from schemas.topics import ATS_EVENTS
from services.common.settings import KafkaSettings, MongoSettings
from services.notifier.channels.twilio_api import INBOUND_PATH
from tests.notifier.provider_doubles import emulator
from tests.ops.dashboards import DASHBOARDS, alert_exprs, expand, metric_names, panels
from tests.ops.live import Prometheus, finite, positive, prometheus, reported, service_processes
from tests.processes import ServiceProcess
from tests.support import ats_event, eventually, produce, smtp_sink, zone_at

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
KEY = {"X-API-Key": "dev-only-api-key"}
RATE, RANGE = "2m", "5m"
# The emulator answers 429 for numbers ending 0002; the others are accepted and delivered.
PHONES = ("+31611110010", "+31611110020", "+31611110030", "+31611110002")
# Panels whose point is an event of the load: they must show more than zero, not just a series.
MUST_BE_POSITIVE = (
    "Dead letters in range",
    "Bounces and failures by channel",
    "Fallbacks by channel given up and cause",
    "Quiet hours, pauses and caps: holds and releases",
    "Held and scheduled messages now",
    "Consent revocations by channel",
    "Reply intents",
    "Re-decisions after a preference change",
    "Channel mix",
    "Why this channel",
    "Routing decisions per second",
    "Retries by channel",
    "Response rate by channel",
    "Silence rate",
    "Silence follow-ups and hand-overs to recruiters",
    "Deliveries by channel, provider and status",
    "Provider receipts by channel and status",
)


def scenario_events(unique: str, day: str, night: str) -> list[dict[str, Any]]:
    """A bounce with an SMS opt-in, a candidate asleep, a silent invitee, a throttled number."""
    bounce_phone, quiet_phone, silent_phone, throttled_phone = PHONES
    return [
        ats_event("ats.application.received", f"{unique}-bounce", email=f"bounce-{unique}@example.org",
                  phone=bounce_phone, opt_ins=("sms",), timezone=day),
        ats_event("ats.stage.changed", f"{unique}-quiet", email=None, phone=quiet_phone, opt_ins=("sms",),
                  timezone=night, stage="screening"),
        ats_event("ats.interview.scheduled", f"{unique}-silent", email=f"silent-{unique}@example.org",
                  phone=silent_phone, opt_ins=("sms",), timezone=day),
        ats_event("ats.application.received", f"{unique}-throttled", email=None, phone=throttled_phone,
                  opt_ins=("sms",), timezone=day),
    ]  # fmt: skip


async def wait_for(checks: dict[str, Callable[[], Any]], procs: dict[str, ServiceProcess]) -> None:
    """Each scenario's outcome, as the services' own /metrics report it (log tails when one never shows)."""
    for what, check in checks.items():
        try:
            await eventually(check, timeout=60, interval=0.2, what=what)
        except AssertionError as missing:
            tails = {n: "\n".join(p.log.read_text(errors="replace").splitlines()[-15:]) for n, p in procs.items()}
            raise AssertionError(f"{missing}\n" + "\n".join(f"--- {n}:\n{t}" for n, t in tails.items())) from None


async def load(kafka: KafkaSettings, procs: dict[str, ServiceProcess], provider: str, unique: str) -> None:
    """Drive the scenarios; then the candidates answer: a STOP by SMS, a move out of the night."""
    pref, router, notifier = (procs[n].url for n in ("preference", "router", "notifier"))
    now = datetime.now(UTC)
    day, night = zone_at(12, now), zone_at(2, now)
    await produce(kafka, ATS_EVENTS, [*scenario_events(unique, day, night), b"this is not json"], key=None)
    await wait_for(
        {
            "a dead letter": positive(pref, "dlq_records_total", 'kind="malformed_json"'),
            "a bounce": positive(notifier, "notifier_deliveries_total", 'status="bounced"'),
            "the fallback to SMS": positive(router, "router_fallbacks_total", 'cause="bounced"'),
            "an SMS after it": positive(notifier, "notifier_deliveries_total", 'channel="sms"', 'status="sent"'),
            "a quiet-hour hold": positive(router, "router_holds_total", 'kind="quiet_hours"'),
            "provider retries": positive(notifier, "notifier_retries_total", 'channel="sms"'),
        },
        procs,
    )
    async with httpx.AsyncClient(timeout=10) as client:
        stop = {"from": PHONES[0], "body": "STOP", "channel": "sms"}
        assert (await client.post(f"{provider}/_emulator/inbound", json=stop)).json()["status"] == 200
        url = f"{pref}/v1/candidates/{unique}-quiet/preferences"
        assert (await client.patch(url, headers=KEY, json={"timezone": day})).status_code == 200
    await wait_for(
        {
            "the SMS revocation": positive(pref, "preference_consent_revocations_total", 'channel="sms"'),
            "the quiet-hour release": positive(router, "router_releases_total", 'kind="quiet_hours"'),
            "a silence follow-up": positive(router, "router_fallbacks_total", 'cause="silence"'),
            "a hand-over after silence": positive(router, "router_needs_recruiter_total", 'cause="silence"'),
            "consumer lag": reported(router, f'kafka_consumer_lag{{group="{unique}.router"'),
        },
        procs,
    )


async def in_prometheus(prom: Prometheus) -> None:
    """Wait until Prometheus has scraped the end state of the load."""
    for expr in (
        'sum(increase(dlq_records_total{kind="malformed_json"}[5m]))',
        'sum(router_releases_total{kind="quiet_hours"})',
        'sum(preference_consent_revocations_total{channel="sms"})',
        'sum(router_needs_recruiter_total{cause="silence"})',
        "count(kafka_consumer_lag)",
    ):

        async def has(e: str = expr) -> bool:
            return await prom.value(e) > 0

        await eventually(has, timeout=30, interval=0.5, what=f"Prometheus to scrape {expr}")


async def evaluate_panels(prom: Prometheus) -> tuple[list[dict[str, Any]], list[str]]:
    """Every query of every dashboard through /api/v1/query; the results and what is missing."""
    results, problems = [], []
    for path in DASHBOARDS:
        for panel in panels(path):
            for target in panel["targets"]:
                series = await prom.query(expand(target["expr"], rate_interval=RATE, range_=RANGE))
                total = sum(float(s["value"][1]) for s in series if float(s["value"][1]) == float(s["value"][1]))
                results.append({"dashboard": path.name, "panel": panel["title"], "series": len(series), "sum": total})
                where = f"{path.name} / {panel['title']} / {target['refId']}"
                if not finite(series):
                    problems.append(f"{where}: no data ({len(series)} series, none a number)")
                elif panel["title"] in MUST_BE_POSITIVE and total <= 0:
                    problems.append(f"{where}: shows nothing of the load")
    return results, problems


def check_logs(logs: dict[str, str], unique: str) -> None:
    """Every delivery is logged with its notification id; no address or number of the load is in any log."""
    outcomes = [json.loads(line) for line in logs["notifier"].splitlines() if '"delivery outcome"' in line]
    assert {o["status"] for o in outcomes} >= {"sent", "bounced", "failed"}
    assert all(o["notification_id"] and o["ats_event_id"] for o in outcomes)
    for contact in (f"bounce-{unique}@example.org", f"silent-{unique}@example.org", *PHONES):
        assert not [name for name, text in logs.items() if contact in text], f"{contact} in a log"


async def test_every_panel_and_every_alert_metric_has_data_from_the_running_services(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, artifacts: Path
) -> None:
    started = time.monotonic()
    reply_window = json.dumps({"interview_scheduling": 2 / 3600})
    procs = service_processes(kafka, mongo, unique, tmp_path, router={"ROUTER_REPLY_WINDOW_HOURS": reply_window})
    notifier = procs["notifier"]
    async with AsyncExitStack() as stack:
        smtp_port, _ = await stack.enter_async_context(smtp_sink(tmp_path / "mail"))
        inbound = f"{notifier.url}{INBOUND_PATH}"
        provider, _ = await stack.enter_async_context(emulator(tmp_path / "provider", inbound_url=inbound))
        notifier.env |= {
            "NOTIFIER_SMTP_PORT": str(smtp_port),
            "NOTIFIER_PROVIDER_BASE_URL": provider,
            "NOTIFIER_PUBLIC_URL": notifier.url,
            "NOTIFIER_RETRY_MAX_S": "0.2",
        }
        for proc in procs.values():
            stack.callback(proc.stop)
            proc.start()
        await asyncio.gather(*(p.ready(60) for p in procs.values()))
        ready_s = time.monotonic() - started
        prom = await stack.enter_async_context(prometheus({n: p.port for n, p in procs.items()}, tmp_path / "prom"))
        await eventually(prom.targets_up, timeout=15, what="Prometheus to scrape all four services")
        await load(kafka, procs, provider, unique)
        await in_prometheus(prom)
        results, problems = await evaluate_panels(prom)
        stored = await prom.metric_names()
    check_logs({name: p.log.read_text() for name, p in procs.items()}, unique)
    unscraped = {alert: sorted(metric_names(expr) - stored) for alert, expr in alert_exprs().items()}
    report = {"ready_s": round(ready_s, 1), "total_s": round(time.monotonic() - started, 1), "queries": results}
    (artifacts / "dashboards-live.json").write_text(json.dumps(report, indent=2))
    assert not problems, "\n".join(problems)
    assert not any(unscraped.values()), f"alert metrics never scraped: {unscraped}"
    assert len(results) >= 30
