"""Inbound SMS/WhatsApp from a number several candidates share: to the candidate it answers, or the worklist.

The notifier's callback routes over a real socket (uvicorn), the real PhoneBook, requests signed
with the official twilio package's RequestValidator, on the in-memory store of provider_doubles.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from twilio.request_validator import RequestValidator

from schemas.common import Channel
from services.notifier.callbacks import PhoneBook, callback_routes
from services.notifier.channels.voice import VoiceAdapter, empty_twiml
from services.notifier.inbound_sms import Answered, answered
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import NOW, FakeReports, FakeStore, counter, outgoing, serving

SHARED = "+31612345678"
TOKEN = "dev-only-twilio-auth-token"


def _reach(phone: str | None, whatsapp: str | None = None) -> Reach:
    return Reach(1, 0, 0b11111, None, phone, whatsapp, None, None, "nl", True)


class Inbound:
    """The callback routes on a PhoneBook where cand-a and cand-b share a number; posts signed webhooks."""

    def __init__(self) -> None:
        self.store, self.reports = FakeStore(), FakeReports()
        self.book = PhoneBook()
        self.book.apply(0, "cand-a", _reach(SHARED))
        self.book.apply(1, "cand-b", _reach(SHARED, whatsapp=SHARED))
        self.book.apply(2, "cand-c", _reach("+31687654321"))
        self.metrics = NotifierMetrics(CollectorRegistry())
        self.settings = NotifierSettings()
        self.app = FastAPI()
        voice = VoiceAdapter(self.settings, self.store.add_work, lambda: NOW)
        routes = callback_routes(
            self.settings,
            self.store,  # type: ignore[arg-type]
            self.reports,  # type: ignore[arg-type]
            self.metrics,
            self.book.candidates_for,
            voice.hang_up,
            lambda: NOW,
        )
        self.app.include_router(routes)

    def sent(self, candidate_id: str, notification_id: str, channel: Channel, minutes_ago: int) -> None:
        out = outgoing(channel, SHARED, notification_id=notification_id, candidate_id=candidate_id)
        self.store.sent(out, "twilio-sms", "SM" + notification_id, at=NOW - timedelta(minutes=minutes_ago))

    async def post(self, url: str, params: dict[str, str]) -> httpx.Response:
        """POST the webhook as Twilio does, signed with the reference implementation."""
        self.settings.public_url = url
        target = f"{url}/callbacks/twilio/inbound"
        signature = RequestValidator(TOKEN).compute_signature(target, params)
        async with httpx.AsyncClient() as client:
            return await client.post(target, data=params, headers={"X-Twilio-Signature": signature})


def _params(sid: str, body: str, sender: str = SHARED) -> dict[str, str]:
    return {"MessageSid": sid, "AccountSid": "AC" + "0" * 32, "From": sender, "To": "+3197010000001", "Body": body}


async def test_a_reply_from_a_shared_number_answers_the_latest_message_to_it() -> None:
    inbound = Inbound()
    inbound.sent("cand-a", "n-a1", Channel.SMS, minutes_ago=30)
    inbound.sent("cand-b", "n-b1", Channel.SMS, minutes_ago=10)
    inbound.sent("cand-a", "n-a-mail", Channel.EMAIL, minutes_ago=1)  # e-mail says nothing about this number
    async with serving(inbound.app) as url:
        first = await inbound.post(url, _params("SM" + "1" * 32, "Ja, dinsdag past"))
        inbound.sent("cand-a", "n-a2", Channel.SMS, minutes_ago=0)
        second = await inbound.post(url, _params("SM" + "2" * 32, "Graag na 17:00"))
    assert (first.status_code, first.text, second.status_code) == (200, empty_twiml(), 200)
    [(to_b, b_id), (to_a, a_id)] = inbound.reports.replies
    assert (to_b.candidate_id, to_b.in_reply_to, to_b.text, to_b.channel) == (
        "cand-b",
        "n-b1",
        "Ja, dinsdag past",
        Channel.SMS,
    )
    assert (to_a.candidate_id, to_a.in_reply_to, to_a.application_id) == ("cand-a", "n-a2", "app-1")
    assert (b_id, a_id) == ("inbound:SM" + "1" * 32, "inbound:SM" + "2" * 32)
    assert inbound.store.inbound == {("cand-b", "sms"): NOW, ("cand-a", "sms"): NOW}
    assert inbound.store.work == {}
    assert counter(inbound.metrics, "provider_status", channel="sms", status="shared_number_attributed") == 2


async def test_whatsapp_replies_follow_whatsapp_messages_only() -> None:
    inbound = Inbound()
    inbound.sent("cand-a", "n-a-sms", Channel.SMS, minutes_ago=1)
    inbound.sent("cand-b", "n-b-wa", Channel.WHATSAPP, minutes_ago=60)
    async with serving(inbound.app) as url:
        await inbound.post(url, _params("SM" + "3" * 32, "👍", sender=f"whatsapp:{SHARED}"))
    [(reply, _)] = inbound.reports.replies
    assert (reply.candidate_id, reply.channel, reply.in_reply_to) == ("cand-b", Channel.WHATSAPP, "n-b-wa")


async def test_a_shared_number_nobody_had_a_message_on_goes_to_the_worklist_once() -> None:
    inbound = Inbound()
    inbound.sent("cand-a", "n-a-mail", Channel.EMAIL, minutes_ago=5)
    params = _params("SM" + "4" * 32, "Wie van ons bedoelt u?")
    async with serving(inbound.app) as url:
        answers = [await inbound.post(url, params), await inbound.post(url, params)]  # Twilio retries
        async with httpx.AsyncClient() as client:
            unsigned = await client.post(f"{url}/callbacks/twilio/inbound", data=params)
    assert [a.status_code for a in answers] == [200, 200] and unsigned.status_code == 403
    assert inbound.reports.replies == [] and inbound.store.inbound == {}
    [item] = inbound.store.work.values()
    assert item["_id"] == "unattributed_reply:SM" + "4" * 32
    assert (item["kind"], item["candidate_id"], item["channel"], item["sharing"]) == (
        "unattributed_reply",
        None,
        "sms",
        ["cand-a", "cand-b"],
    )
    assert item["details"] == {"phone": SHARED, "text": "Wie van ons bedoelt u?", "candidates": ["cand-a", "cand-b"]}
    assert "2 candidates share" in item["reason"] and SHARED not in item["reason"]
    assert counter(inbound.metrics, "provider_status", channel="sms", status="shared_number_unattributed") == 2


async def test_a_number_of_one_candidate_still_names_them_without_any_message() -> None:
    inbound = Inbound()
    async with serving(inbound.app) as url:
        await inbound.post(url, _params("SM" + "5" * 32, "STOP", sender="+31687654321"))
    [(reply, _)] = inbound.reports.replies
    assert (reply.candidate_id, reply.in_reply_to, reply.text) == ("cand-c", None, "STOP")


def _row(nid: str, channel: str, minutes_ago: int | None, **extra: Any) -> dict[str, Any]:
    history = [] if minutes_ago is None else [{"status": "sent", "at": NOW - timedelta(minutes=minutes_ago)}]
    return {"_id": nid, "channel": channel, "application_id": "app-1", "history": history, **extra}


def test_attribution_rules() -> None:
    timelines = {
        "a": [_row("a1", "sms", 5), _row("a-held", "sms", None)],  # a held message was never sent
        "b": [_row("b1", "sms", 20), _row("b2", "whatsapp", 1)],
    }
    assert answered(["a", "b"], timelines, "sms") == Answered("a", "a1", "app-1")
    assert answered(["a", "b"], timelines, "whatsapp") == Answered("b", "b2", "app-1")
    assert answered(["a", "b"], timelines, "voice") is None
    assert answered([], timelines, "sms") is None
    tie = {"a": [_row("a1", "sms", 3)], "b": [_row("b1", "sms", 3)]}
    assert answered(["a", "b"], tie, "sms") is None  # two at the same instant: a person decides
    assert answered(["a"], {"a": [_row("a-held", "sms", None)]}, "sms") == Answered("a", "a-held", "app-1")
    assert answered(["a"], {}, "sms") == Answered("a", None, None)
