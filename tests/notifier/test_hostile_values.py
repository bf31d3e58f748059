"""Hostile but valid values on every channel adapter: delivered as they are, or refused with a reason; never raised.

Every contact field and every provider: e-mail through the SMTP sink, SMS/WhatsApp/voice through
the Twilio-style emulator, portal webhooks through the emulator's portal endpoint, call tasks into
the worklist. A value nothing can carry (a lone surrogate, a number that is not one) ends the one
message as a permanent failure; it never escapes as an exception that would fail the whole batch.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from deploy.local.provider_emulator import read_messages
from deploy.local.smtp_sink import read_index, serve
from schemas.common import Channel
from services.common.settings import ChannelSettings
from services.notifier.channels.base import Outcome, Outgoing, SendResult
from services.notifier.channels.email import EmailAdapter
from services.notifier.channels.portal import PortalAdapter
from services.notifier.channels.twilio import SmsAdapter, WhatsAppAdapter
from services.notifier.channels.voice import VoiceAdapter
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import NOW, FakeStore, emulator, outgoing, settings

# Emoji with modifiers, right-to-left override, markup, quotes, NUL, a header-injection attempt, 4-byte letters.
TEXT = "Zoë 👩🏽‍💻 \u202edcba\u202c <b>&amp;</b> 'q\" \x00 \r\nBcc: evil@example.net\r\n\r\n𝔘𝔫𝔦 ok"
SURROGATE = "broken \ud83d half an emoji"
HOSTILE_ID = "n-ü\r\nX-Injected: 1"


def _with(out: Outgoing, **rendered: Any) -> Outgoing:
    return replace(out, rendered=replace(out.rendered, **rendered))


def _named(out: Outgoing, name: str) -> Outgoing:
    context = out.msg.context.model_copy(update={"candidate_name": name})
    return replace(out, msg=out.msg.model_copy(update={"context": context}))


async def test_email_header_injection_and_broken_text_stay_in_their_place(tmp_path: Path) -> None:
    server = await serve("127.0.0.1", 0, tmp_path)
    port = server.sockets[0].getsockname()[1]
    smtp = EmailAdapter(NotifierSettings(smtp_port=port, smtp_timeout_s=5))
    try:
        sent = await smtp.send(
            _with(outgoing(Channel.EMAIL, "o'neil+tag@example.org"), subject=TEXT, body=TEXT + SURROGATE)
        )
        bad_id = await smtp.send(outgoing(Channel.EMAIL, "sanne@example.org", notification_id=HOSTILE_ID))
        not_mail = await smtp.send(outgoing(Channel.EMAIL, "+31612345678"))
        surrogate_to = await smtp.send(outgoing(Channel.EMAIL, "\ud800@example.org"))
    finally:
        await smtp.close()
        server.close()
        await server.wait_closed()
    assert sent.outcome is Outcome.ACCEPTED, sent.reason
    assert (bad_id.outcome, bad_id.provider_ref) == (Outcome.PERMANENT, None)
    assert "notification id" in bad_id.reason
    assert not_mail.outcome is surrogate_to.outcome is Outcome.PERMANENT
    [entry] = read_index(tmp_path)
    assert entry["rcpt_tos"] == ["o'neil+tag@example.org"]
    msg = message_from_bytes((tmp_path / entry["file"]).read_bytes(), policy=policy.default)
    assert "Bcc" not in msg and "X-Injected" not in msg
    assert msg["Subject"] == " ".join(TEXT.replace("\x00", " ").split())  # one line, nothing lost but breaks
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None and "half an emoji" in body.get_content()


SMS_CASES = [
    ("+31612345678", TEXT, Outcome.ACCEPTED, ""),
    ("+8613800138000", "長い夜 😀", Outcome.ACCEPTED, ""),
    ("+31612345678", SURROGATE, Outcome.PERMANENT, "cannot be encoded as UTF-8"),
    ("+31 6 1234\r\n5678", "hoi", Outcome.PERMANENT, "21211"),
    ("+٣١٦١٢٣٤٥٦٧٨", "hoi", Outcome.PERMANENT, "21211"),
    ("jörg@bücher.example", "hoi", Outcome.PERMANENT, "21211"),
    ("whatsapp:+31612345678", "hoi", Outcome.PERMANENT, "21910"),  # an SMS to a WhatsApp address
]


@pytest.mark.parametrize(("to", "text", "outcome", "reason"), SMS_CASES)
async def test_sms_values(tmp_path: Path, to: str, text: str, outcome: Outcome, reason: str) -> None:
    async with emulator(tmp_path) as (url, _):
        sms = SmsAdapter(settings(url))
        result = await sms.send(_with(outgoing(Channel.SMS, to), short=text))
        await sms.close()
    _check(result, outcome, reason)
    recorded = [m for m in read_messages(tmp_path) if m["kind"] == "message"]
    assert [(m["to"], m["body"]) for m in recorded] == ([(to, text)] if outcome is Outcome.ACCEPTED else [])


@pytest.mark.parametrize("to", ["+31612345678", "whatsapp:+31612345678"])
async def test_whatsapp_values(tmp_path: Path, to: str) -> None:
    store = FakeStore()
    await store.record_inbound("cand-1", "whatsapp", NOW)  # inside the 24-hour window: free text
    async with emulator(tmp_path) as (url, _):
        wa = WhatsAppAdapter(settings(url), store.last_inbound, lambda: NOW)
        free = await wa.send(_with(outgoing(Channel.WHATSAPP, to), short=TEXT))
        broken = await wa.send(_with(outgoing(Channel.WHATSAPP, to), short=SURROGATE))
        await wa.close()
    _check(free, Outcome.ACCEPTED, "")
    _check(broken, Outcome.PERMANENT, "cannot be encoded as UTF-8")
    [recorded] = [m for m in read_messages(tmp_path) if m["kind"] == "message"]
    assert (recorded["to"], recorded["body"]) == ("whatsapp:+31612345678", TEXT)


async def test_whatsapp_template_variables_carry_any_name(tmp_path: Path) -> None:
    templates = {"interview_invite": {"nl": {"content_sid": "HX" + "a" * 32, "variables": ["name", "job_title"]}}}
    async with emulator(tmp_path) as (url, _):
        wa = WhatsAppAdapter(
            settings(url, channels=ChannelSettings(whatsapp_templates=templates)), FakeStore().last_inbound, lambda: NOW
        )
        named = await wa.send(_named(outgoing(Channel.WHATSAPP, "+31612345678"), 'Zoë "𝔘" O\'Neil'))
        broken = await wa.send(_named(outgoing(Channel.WHATSAPP, "+31612345678"), "\ud83dZoë de Vries"))
        await wa.close()
    _check(named, Outcome.ACCEPTED, "approved template")
    _check(broken, Outcome.PERMANENT, "cannot be encoded as UTF-8")


PORTAL_ACCOUNTS = ["ü-ñ-例え", "acct\r\nX-Injected: 1", "\u202eevil", "x" * 254, "  "]


@pytest.mark.parametrize("account", PORTAL_ACCOUNTS)
async def test_portal_values(tmp_path: Path, account: str) -> None:
    async with emulator(tmp_path) as (url, _):
        portal = PortalAdapter(settings(url, portal_webhook_url=f"{url}/_emulator/portal"), lambda: NOW)
        hostile = await portal.send(_with(outgoing(Channel.PORTAL, account, notification_id=HOSTILE_ID), subject=TEXT))
        broken = await portal.send(_with(outgoing(Channel.PORTAL, account, notification_id="n-2"), body=SURROGATE))
        await portal.close()
    _check(hostile, Outcome.ACCEPTED, "")
    _check(broken, Outcome.PERMANENT, "cannot be written as UTF-8 JSON")
    [recorded] = [m for m in read_messages(tmp_path) if m["kind"] == "portal"]
    assert (recorded["notification_id"], recorded["subject"]) == (HOSTILE_ID, TEXT)
    assert recorded["idempotency_key"] == quote(HOSTILE_ID, safe="")


@pytest.mark.parametrize(("to", "outcome"), [("+31612345678", Outcome.ACCEPTED), ("+31 6\r\n1", Outcome.PERMANENT)])
async def test_automated_call_values(tmp_path: Path, to: str, outcome: Outcome) -> None:
    async with emulator(tmp_path) as (url, _):
        voice = VoiceAdapter(settings(url, voice_mode="automated"), FakeStore().add_work, lambda: NOW)
        result = await voice.send(_with(outgoing(Channel.VOICE, to), speech=TEXT))
        broken = await voice.send(_with(outgoing(Channel.VOICE, to), speech=SURROGATE))
        await voice.close()
    _check(result, outcome, "" if outcome is Outcome.ACCEPTED else "21211")
    _check(broken, Outcome.PERMANENT, "cannot be encoded as UTF-8")
    calls = [m for m in read_messages(tmp_path) if m["kind"] == "call"]
    if outcome is Outcome.ACCEPTED:
        [call] = calls
        say = ET.fromstring(call["twiml"].encode()).find("Say")
        # XML cannot hold NUL, and a parser reads CR LF as LF: what Twilio reads is the text otherwise intact.
        assert say is not None and say.text == TEXT.replace("\x00", "").replace("\r\n", "\n")
    else:
        assert calls == []


async def test_call_task_values() -> None:
    store = FakeStore()
    voice = VoiceAdapter(settings("http://127.0.0.1:9"), store.add_work, lambda: NOW)
    result = await voice.send(_named(_with(outgoing(Channel.VOICE, "+31 6\r\n1"), speech=TEXT), TEXT))
    _check(result, Outcome.ACCEPTED, "call task")
    [item] = store.work.values()
    assert (item["channel"], item["details"]["phone"], item["details"]["who"]) == ("voice", "+31 6\r\n1", TEXT)


def _check(result: SendResult, outcome: Outcome, reason: str) -> None:
    assert isinstance(result, SendResult)
    assert result.outcome is outcome, result.reason
    assert reason in result.reason
