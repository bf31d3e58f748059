"""Nothing sensitive leaks during a full run of the four services as processes.

Canary values (a unique e-mail address and phone numbers, and unique secrets in every secret setting)
go through a success, a bounce with a fallback, a provider error that quotes the number, a reply, and
dead letters whose payloads carry the canaries, and Greenhouse webhooks carrying an ATS candidate's canary
address and number into the connector (taken, forged, invalid). Then every service log, every header of every DLQ
record and every /metrics exposition (names, label values, samples) is searched for them, in the
forms they could take: the address's local part (also catches URL-encoded addresses), the number's
digits without "+" (also catches "whatsapp:" and %2B forms), each secret, and the self-service link
token the candidate received.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import ConsumerRecord

from deploy.local.provider_emulator import read_messages
from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, CANDIDATE_INBOUND, NOTIFICATIONS_STATUS, TOPICS
from services.common.settings import KafkaSettings, MongoSettings
from services.notifier.channels.twilio_api import INBOUND_PATH
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.e2e.canaries import Canaries, find_leaks, link_tokens
from tests.notifier.provider_doubles import emulator
from tests.ops.live import positive, service_processes
from tests.processes import ServiceProcess
from tests.support import DAYTIME, ats_event, eventually, produce, read_topic, smtp_sink

pytestmark = pytest.mark.timeout(180)


def dead_letters(c: Canaries) -> list[tuple[str, bytes]]:
    """Records every consumer must dead-letter, each carrying the canaries in the offending values."""
    bad_contacts = ats_event(
        "ats.application.received", f"{c.candidate}-bad", email=f"{c.email}>", phone=c.phone + "99999999"
    )
    bad_timezone = ats_event("ats.application.received", f"{c.candidate}-tz", email=c.email, timezone=c.email)
    truncated = json.dumps(ats_event("ats.application.received", c.candidate, email=c.email, phone=c.phone))[:-40]
    reply = {"specversion": "1.0", "type": "candidate.reply.received", "data": {"text": f"{c.email} {c.phone}"}}
    return [
        (
            NOTIFICATIONS_STATUS,
            f'{{"type": "notification.status.changed", "data": "{c.ats_email} {c.ats_phone}'.encode(),
        ),
        (ATS_EVENTS, json.dumps(bad_contacts).encode()),
        (ATS_EVENTS, json.dumps(bad_timezone).encode()),
        (ATS_EVENTS, truncated.encode()),
        (ATS_ACCEPTED, truncated.encode()),  # an internal topic is an input too
        (CANDIDATE_INBOUND, json.dumps(reply).encode()),
    ]


async def drive(kafka: KafkaSettings, c: Canaries, urls: dict[str, str], provider: str) -> None:
    """Success, bounce + fallback, a provider error quoting the number, dead letters, and a reply."""
    events = [
        ats_event(
            "ats.application.received", c.candidate, email=c.email, phone=c.phone, opt_ins=("sms",), timezone=DAYTIME
        ),
        ats_event(
            "ats.application.received",
            c.quoted_candidate,
            email=None,
            phone=c.quoted_phone,
            opt_ins=("sms",),
            timezone=DAYTIME,
        ),
    ]
    await produce(kafka, ATS_EVENTS, [*events])
    for topic, value in dead_letters(c):
        await produce(kafka, topic, [value], key=c.candidate)
    notifier, pref, router = urls["notifier"], urls["preference"], urls["router"]
    await outcomes(
        {
            "the bounce": positive(notifier, "notifier_deliveries_total", 'status="bounced"'),
            "the SMS after it": positive(notifier, "notifier_deliveries_total", 'channel="sms"', 'status="sent"'),
            "a provider receipt": positive(notifier, "notifier_provider_callbacks_total", 'status="delivered"'),
            "the refused number": positive(notifier, "notifier_deliveries_total", 'channel="sms"', 'status="failed"'),
            "dead letters in preference": positive(pref, "dlq_records_total", 'ats.events"'),
            "dead letters in the router": positive(router, "dlq_records_total", 'ats.accepted"'),
            "a dead reply": positive(pref, "dlq_records_total", 'candidate.inbound"'),
        }
    )
    text = f"Mail me at {c.email} or call {c.phone}, not on this number"
    async with httpx.AsyncClient(timeout=10) as client:
        answer = await client.post(f"{provider}/_emulator/inbound", json={"from": c.phone, "body": text})
        assert answer.json()["status"] == 200, answer.text
        key = {"X-API-Key": c.secrets["api-key"]}
        r = await client.get(f"{notifier}/v1/candidates/{c.candidate}/timeline", headers=key)
        assert r.status_code == 200, r.text
    await outcomes({"the reply": positive(pref, "preference_reply_intents_total")})
    await drive_connector(c, urls["connectors"])
    await outcomes(
        {
            "the connector's event": positive(urls["connectors"], "connector_events_produced_total"),
            "the connector's dead letter": positive(urls["connectors"], "dlq_records_total", 'notifications.status"'),
            "the ATS candidate's e-mail": positive(
                notifier, "notifier_deliveries_total", 'channel="email"', 'status="sent"'
            ),
        }
    )


async def drive_connector(c: Canaries, url: str) -> None:
    """Greenhouse webhooks carrying the ATS canaries: one taken, one with a forged signature, one invalid."""
    doc = fixture("greenhouse", "new_candidate_application")
    person = doc["payload"]["application"]["candidate"]
    person["email_addresses"] = [{"value": c.ats_email, "type": "personal"}]
    person["phone_numbers"] = [{"value": c.ats_phone, "type": "mobile"}]
    invalid = fixture("greenhouse", "new_candidate_application")
    invalid["payload"]["application"]["candidate"] |= {
        "id": 70000001,
        "email_addresses": [{"value": f"{c.ats_email}>", "type": "personal"}],
        "phone_numbers": [{"value": c.ats_phone + "99999999", "type": "mobile"}],
    }
    secret = c.secrets["webhook-secret"]
    async with httpx.AsyncClient(base_url=url, timeout=10) as client:
        taken = await client.post(
            "/v1/webhooks/greenhouse", content=body_of(doc), headers=greenhouse_headers(body_of(doc), secret)
        )
        assert taken.status_code == 202, taken.text
        forged = await client.post(
            "/v1/webhooks/greenhouse", content=body_of(doc), headers=greenhouse_headers(body_of(doc), "not-the-secret")
        )
        assert forged.status_code == 401, forged.text
        odd = await client.post(
            "/v1/webhooks/greenhouse", content=body_of(invalid), headers=greenhouse_headers(body_of(invalid), secret)
        )
        assert odd.status_code in (202, 422), odd.text  # either taken (the address kept as invalid) or refused


async def outcomes(checks: dict[str, Any]) -> None:
    """Wait for each outcome in turn."""
    for what, check in checks.items():
        await eventually(check, timeout=60, interval=0.2, what=what)


async def dead_letter_records(kafka: KafkaSettings) -> list[tuple[str, ConsumerRecord[bytes, bytes]]]:
    """(topic, record) of every dead letter of this run."""
    return [(spec.name, r) for spec in TOPICS if spec.name.endswith(".dlq") for r in await read_topic(kafka, spec.name)]


async def metric_texts(urls: dict[str, str]) -> dict[str, str]:
    """Each service's /metrics exposition."""
    async with httpx.AsyncClient(timeout=5) as client:
        return {name: (await client.get(f"{url}/metrics")).text for name, url in urls.items()}


async def test_no_contact_data_or_secret_reaches_logs_dead_letter_headers_or_metrics(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    c = Canaries(unique)
    procs = service_processes(kafka, mongo, unique, tmp_path, **c.env())
    async with AsyncExitStack() as stack:
        smtp_port, _ = await stack.enter_async_context(smtp_sink(tmp_path / "mail"))
        provider, _ = await stack.enter_async_context(
            emulator(
                tmp_path / "provider",
                inbound_url=procs["notifier"].url + INBOUND_PATH,
                auth_token=c.secrets["twilio-token"],
                portal_secret=c.secrets["portal"],
            )
        )
        procs["notifier"].env |= {
            "NOTIFIER_SMTP_PORT": str(smtp_port),
            "NOTIFIER_PROVIDER_BASE_URL": provider,
            "NOTIFIER_PUBLIC_URL": procs["notifier"].url,
        }
        for proc in procs.values():
            stack.callback(proc.stop)
            proc.start()
        await asyncio.gather(*(p.ready(60) for p in procs.values()))
        urls = {name: p.url for name, p in procs.items()}
        await drive(kafka, c, urls, provider)
        metrics = await metric_texts(urls)
    sent = [m for m in read_messages(tmp_path / "provider") if m["kind"] == "message"]
    c.link_tokens = link_tokens(sent)
    dead = await dead_letter_records(kafka)
    # Positive controls: the canaries did travel (to the provider, into the dead letters' payloads).
    assert [m["to"] for m in sent] == [c.phone] and c.link_tokens, sent
    assert sum(c.email.split("@")[0].encode() in (r.value or b"") for _, r in dead) >= 4, "dead letters with canaries"
    taken = [r for r in await read_topic(kafka, ATS_EVENTS) if c.ats_email.encode() in (r.value or b"")]
    assert taken, "the connector put the ATS candidate's canary address on ats.events"
    headers = [(topic, f"{k}={v.decode(errors='replace')}") for topic, r in dead for k, v in r.headers]
    leaks = find_leaks(c, procs, headers, metrics)
    assert not leaks, "\n".join(leaks)


def test_the_search_finds_canaries_in_the_forms_they_take(tmp_path: Path) -> None:
    """Guards the guard: encoded, prefixed and label-borne canaries are found."""
    c = Canaries("t")
    c.link_tokens = ["dG9rZW4.1767225600.c2ln"]
    log = tmp_path / "notifier.log"
    log.write_text(f'{{"event": "x", "to": "whatsapp:{c.phone}", "url": "/s?e={c.email.replace("@", "%40")}"}}\n')
    procs = {"notifier": ServiceProcess("notifier", {}, log)}
    headers = [("ats.events.dlq", f"dlq.error.reason=bad phone {c.quoted_phone.lstrip('+')}")]
    metrics = {"router": f'x_total{{token="{c.link_tokens[0]}"}} 1.0\n'}
    leaks = find_leaks(c, procs, headers, metrics)
    assert any(leak.startswith("e-mail local part in log of notifier") for leak in leaks)
    assert any(leak.startswith(f"phone {c.phone} in log of notifier") for leak in leaks)
    assert any(leak.startswith(f"phone {c.quoted_phone} in DLQ header") for leak in leaks)
    assert "link token 0 in metric label values of router" in leaks
