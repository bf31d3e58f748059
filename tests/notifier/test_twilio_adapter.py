"""SMS and WhatsApp adapters against the provider emulator over real sockets, and the receipts it calls back with."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from deploy.local.provider_emulator import read_messages
from schemas.common import Channel, NotificationStatus
from services.common.settings import ChannelSettings, WhatsAppTemplate
from services.notifier.channels.base import Outcome
from services.notifier.channels.twilio import SmsAdapter, WhatsAppAdapter
from services.notifier.channels.twilio_api import classify, retry_after_seconds
from tests.notifier.provider_doubles import (
    NOW,
    FakeReports,
    FakeStore,
    callback_app,
    counter,
    emulator,
    outgoing,
    serving,
    settings,
)
from tests.support import eventually

OK_NUMBER = "+31612340000"
TEMPLATE_SID = "HX" + "ab" * 16


def _clean(reason: str, number: str, text: str) -> None:
    assert number not in reason and number.lstrip("+") not in reason
    assert text not in reason


async def test_accepted_sms_is_recorded_and_carries_the_segment_count(tmp_path: Path) -> None:
    async with emulator(tmp_path) as (url, _):
        adapter = SmsAdapter(settings(url))
        out = outgoing(Channel.SMS, OK_NUMBER)
        result = await adapter.send(out)
        await adapter.close()
    assert result.outcome is Outcome.ACCEPTED, result
    assert result.provider == "twilio-sms"
    assert result.provider_ref and result.provider_ref.startswith("SM") and len(result.provider_ref) == 34
    assert "1 SMS segment, GSM-7" in result.reason
    [sent] = read_messages(tmp_path)
    assert sent["sid"] == result.provider_ref
    assert (sent["to"], sent["body"]) == (OK_NUMBER, out.rendered.short)
    assert sent["status_callback"] == "http://127.0.0.1:9/callbacks/twilio/status"


@pytest.mark.parametrize(
    ("number", "outcome", "in_reason"),
    [
        ("+31612340001", Outcome.PERMANENT, "Twilio error 21211: invalid 'To' number"),
        ("+31612340002", Outcome.TRANSIENT, "HTTP 429, Twilio error 20429"),
        ("+31612340003", Outcome.TRANSIENT, "HTTP 500"),
        ("+31612340004", Outcome.TRANSIENT, "unreadable body"),
        ("+31612340006", Outcome.TRANSIENT, "did not answer within 0.5 s"),
    ],
)
async def test_provider_failures_are_classified_without_contact_data(
    tmp_path: Path, number: str, outcome: Outcome, in_reason: str
) -> None:
    async with emulator(tmp_path) as (url, _):
        adapter = SmsAdapter(settings(url))
        out = outgoing(Channel.SMS, number)
        result = await adapter.send(out)
        await adapter.close()
    assert result.outcome is outcome, result
    assert in_reason in result.reason
    _clean(result.reason, number, out.rendered.short)
    assert read_messages(tmp_path) == []  # refused requests are not receipts
    if number.endswith("0002"):
        assert result.retry_after_s == 1.0


async def test_unreachable_provider_is_transient() -> None:
    adapter = SmsAdapter(settings("http://127.0.0.1:9"))
    result = await adapter.send(outgoing(Channel.SMS, OK_NUMBER))
    await adapter.close()
    assert result.outcome is Outcome.TRANSIENT
    assert "provider unreachable (ConnectError)" in result.reason


async def test_wrong_credentials_are_refused_permanently(tmp_path: Path) -> None:
    async with emulator(tmp_path, auth_token="another-token") as (url, _):
        adapter = SmsAdapter(settings(url))
        result = await adapter.send(outgoing(Channel.SMS, OK_NUMBER))
        await adapter.close()
    assert result.outcome is Outcome.PERMANENT
    assert "HTTP 401, Twilio error 20003: credentials refused" in result.reason


async def test_too_long_sms_is_refused_before_the_provider(tmp_path: Path) -> None:
    text = "Hoi Sanne, " + "we hebben een vraag over je sollicitatie ë. " * 8  # ë: UCS-2, 67 per segment
    async with emulator(tmp_path) as (url, _):
        adapter = SmsAdapter(settings(url, sms_max_segments=4))
        result = await adapter.send(outgoing(Channel.SMS, OK_NUMBER, short=text))
        await adapter.close()
    assert result.outcome is Outcome.PERMANENT
    assert result.reason == "SMS too long: 6 SMS segments, UCS-2, above the maximum of 4"
    assert read_messages(tmp_path) == []


async def test_undelivered_receipt_fails_the_notification(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    async with emulator(tmp_path) as (url, _):
        s = settings(url)
        app, metrics = callback_app(s, store, reports)
        async with serving(app) as public:
            s.public_url = public
            adapter = SmsAdapter(s)
            out = outgoing(Channel.SMS, "+31612340005")
            result = await adapter.send(out)
            await adapter.close()
            assert result.outcome is Outcome.ACCEPTED
            store.sent(out, result.provider, result.provider_ref)
            [change] = await eventually(lambda: _changes(reports), what="the undelivered receipt")
    assert change.status is NotificationStatus.FAILED
    assert change.reason == "provider reported undelivered (Twilio error 30003: handset unreachable)"
    assert (change.notification_id, change.provider_ref, change.channel) == ("n-1", result.provider_ref, Channel.SMS)
    assert (change.ats_event_id, change.stage.value) == ("ats-1", "interview_scheduling")
    assert counter(metrics, "provider_status", channel="sms", status="sent") == 1  # counted, not republished
    assert counter(metrics, "rejected_callbacks", endpoint="status") == 0


async def _changes(reports: FakeReports) -> list[object]:
    return list(reports.changes)


async def test_whatsapp_outside_the_window_needs_an_approved_template(tmp_path: Path) -> None:
    store = FakeStore()
    async with emulator(tmp_path) as (url, _):
        adapter = WhatsAppAdapter(settings(url), store.last_inbound, lambda: NOW)
        result = await adapter.send(outgoing(Channel.WHATSAPP, OK_NUMBER))
        await adapter.close()
    assert result.outcome is Outcome.PERMANENT
    assert result.reason.startswith("no approved WhatsApp template for interview_invite (nl)")
    assert read_messages(tmp_path) == []


async def test_whatsapp_template_outside_the_window(tmp_path: Path) -> None:
    store = FakeStore()
    store.inbound[("cand-1", "whatsapp")] = NOW - timedelta(hours=25)
    templates = {
        "interview_invite": {"nl": WhatsAppTemplate(content_sid=TEMPLATE_SID, variables=("name", "job_title", "when"))}
    }
    async with emulator(tmp_path) as (url, _):
        adapter = WhatsAppAdapter(
            settings(url, channels=ChannelSettings(whatsapp_templates=templates)), store.last_inbound, lambda: NOW
        )
        out = outgoing(Channel.WHATSAPP, OK_NUMBER, interview_start=NOW + timedelta(days=6))
        result = await adapter.send(out)
        await adapter.close()
    assert result.outcome is Outcome.ACCEPTED, result
    [sent] = read_messages(tmp_path)
    assert (sent["to"], sent["from"]) == (f"whatsapp:{OK_NUMBER}", "whatsapp:+3197010000002")
    assert sent["body"] is None and sent["content_sid"] == TEMPLATE_SID
    assert json.loads(sent["content_variables"]) == {
        "1": "Sanne",
        "2": "Data engineer",
        "3": "dinsdag 1 december 2026 om 13:00",
    }


async def test_whatsapp_free_text_inside_the_window_and_read_receipt(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    store.inbound[("cand-1", "whatsapp")] = NOW - timedelta(hours=2)
    async with emulator(tmp_path) as (url, _):
        s = settings(url)
        app, _ = callback_app(s, store, reports)
        async with serving(app) as public:
            s.public_url = public
            adapter = WhatsAppAdapter(s, store.last_inbound, lambda: NOW)
            out = outgoing(Channel.WHATSAPP, OK_NUMBER)
            result = await adapter.send(out)
            await adapter.close()
            store.sent(out, result.provider, result.provider_ref)
            changes = await eventually(lambda: _n_changes(reports, 2), what="delivered and read receipts")
    assert [c.status for c in changes] == [NotificationStatus.DELIVERED, NotificationStatus.READ]
    assert read_messages(tmp_path)[0]["body"] == out.rendered.short
    assert "free text inside the 24-hour window" in result.reason


async def _n_changes(reports: FakeReports, n: int) -> list[object] | None:
    return list(reports.changes) if len(reports.changes) >= n else None


def test_classify_never_crashes_on_odd_answers() -> None:
    assert classify("p", 201, None, b"[1, 2]").outcome is Outcome.TRANSIENT
    assert classify("p", 201, None, b'{"sid": 12}').outcome is Outcome.TRANSIENT
    assert classify("p", 404, None, b"\xff\xfe").reason == "provider refused the request (HTTP 404, unreadable body)"
    assert classify("p", 302, None, b"").outcome is Outcome.TRANSIENT
    assert classify("p", 503, "Wed, 25 Nov 2026 12:00:30 GMT", b"{}").retry_after_s is not None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("2.5") == 2.5


async def test_emulator_requires_basic_auth(tmp_path: Path) -> None:
    async with emulator(tmp_path) as (url, _), httpx.AsyncClient(base_url=url) as client:
        resp = await client.post(f"/2010-04-01/Accounts/AC{'0' * 32}/Messages.json", data={"To": OK_NUMBER})
    assert resp.status_code == 401
    assert resp.json()["code"] == 20003
