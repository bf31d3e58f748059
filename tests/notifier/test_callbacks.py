"""Inbound SMS/WhatsApp through the emulator's webhook, receipts nobody expects, and the number index."""

from __future__ import annotations

from pathlib import Path

import httpx

from schemas.common import Channel, NotificationStatus
from services.notifier.callbacks import PhoneBook
from services.notifier.channels.twilio import SmsAdapter
from services.notifier.channels.voice import empty_twiml
from services.notifier.reach import Reach
from services.notifier.signatures import twilio_signature
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

KNOWN = "+31612345678"


async def test_inbound_whatsapp_reply_is_recorded_and_handed_to_preference(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    store.sent(outgoing(Channel.WHATSAPP, KNOWN, notification_id="n-wa"), "twilio-whatsapp", "SM" + "1" * 32)
    store.sent(outgoing(Channel.SMS, KNOWN, notification_id="n-sms"), "twilio-sms", "SM" + "2" * 32)
    s = settings("http://127.0.0.1:9")
    app, metrics = callback_app(s, store, reports, phones={KNOWN: "cand-1"})
    async with serving(app) as public:
        s.public_url = public
        async with (
            emulator(tmp_path, inbound_url=f"{public}/callbacks/twilio/inbound") as (url, _),
            httpx.AsyncClient(base_url=url) as client,
        ):
            answer = (
                await client.post(
                    "/_emulator/inbound",
                    json={"from": KNOWN, "body": "  Liever een belletje na 17:00, ideeën? 👍  ", "channel": "whatsapp"},
                )
            ).json()
    assert answer["status"] == 200 and answer["response"] == empty_twiml()
    [(reply, event_id)] = reports.replies
    assert (reply.candidate_id, reply.channel, reply.text) == (
        "cand-1",
        Channel.WHATSAPP,
        "Liever een belletje na 17:00, ideeën? 👍",
    )
    assert (reply.in_reply_to, reply.application_id, reply.received_at) == ("n-wa", "app-1", NOW)
    assert reply.provider_ref == answer["sid"] and event_id == f"inbound:{answer['sid']}"
    assert store.inbound == {("cand-1", "whatsapp"): NOW}
    assert counter(metrics, "replies", channel="whatsapp") == 1


async def test_unknown_sender_gets_empty_twiml_and_waits_on_the_worklist(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    s = settings("http://127.0.0.1:9")
    app, metrics = callback_app(s, store, reports, phones={KNOWN: "cand-1"})
    async with serving(app) as public:
        s.public_url = public
        async with (
            emulator(tmp_path, inbound_url=f"{public}/callbacks/twilio/inbound") as (url, _),
            httpx.AsyncClient(base_url=url) as client,
        ):
            answer = (
                await client.post("/_emulator/inbound", json={"from": "+31699999999", "body": "wie is dit?"})
            ).json()
    assert (answer["status"], answer["response"]) == (200, empty_twiml())
    assert reports.replies == [] and store.inbound == {}
    [item] = store.work.values()
    assert (item["kind"], item["candidate_id"], item["channel"]) == ("unattributed_reply", None, "sms")
    assert item["details"] == {"phone": "+31699999999", "text": "wie is dit?", "candidates": []}
    assert item["_id"] == f"unattributed_reply:{answer['sid']}"
    assert counter(metrics, "provider_status", channel="sms", status="unknown_sender") == 1


async def test_receipts_for_unknown_or_early_states(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    s = settings("http://127.0.0.1:9", callback_match_wait_s=0.1)
    app, metrics = callback_app(s, store, reports)
    async with serving(app) as public, httpx.AsyncClient(base_url=public) as client:
        s.public_url = public
        url = f"{public}/callbacks/twilio/status"
        for form in (
            {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"},
            {"MessageSid": "SM" + "9" * 32, "MessageStatus": "queued"},
        ):
            resp = await client.post(
                url,
                data=form,
                headers={"X-Twilio-Signature": twilio_signature("dev-only-twilio-auth-token", url, form)},
            )
            assert resp.status_code == 204
    assert reports.changes == []
    assert counter(metrics, "provider_status", channel="unknown", status="unmatched") == 1
    assert counter(metrics, "provider_status", channel="unknown", status="queued") == 1


async def test_receipts_through_a_proxy_are_verified_against_the_public_url(tmp_path: Path) -> None:
    store, reports = FakeStore(), FakeReports()
    s = settings("http://127.0.0.1:9", public_url="https://notifier.example.org")
    app, metrics = callback_app(s, store, reports)
    async with serving(app) as behind_proxy, emulator(tmp_path, callback_base=behind_proxy) as (url, em):
        s.provider_base_url = url
        adapter = SmsAdapter(s)
        out = outgoing(Channel.SMS, "+31612340000")
        result = await adapter.send(out)
        await adapter.close()
        store.sent(out, result.provider, result.provider_ref)

        async def delivered() -> bool:
            return any(c["params"]["MessageStatus"] == "delivered" and c["status"] for c in em.callbacks)

        await eventually(delivered, what="the delivered receipt")
    assert em.callbacks[0]["url"] == "https://notifier.example.org/callbacks/twilio/status"
    assert [c.status for c in reports.changes] == [NotificationStatus.DELIVERED]
    assert counter(metrics, "rejected_callbacks", endpoint="status") == 0


def _reach(version: int, phone: str | None, whatsapp: str | None = None) -> Reach:
    return Reach(
        version=version,
        consent_bits=0,
        valid_bits=0,
        email=None,
        phone=phone,
        whatsapp=whatsapp,
        portal=None,
        name=None,
        language="nl",
        voicemail=True,
    )


async def test_phone_book_follows_the_view() -> None:
    book = PhoneBook()
    book.apply(0, "cand-1", _reach(1, KNOWN, "+31611111111"))
    assert await book.candidate_for(KNOWN, Channel.SMS) == "cand-1"
    assert await book.candidate_for("+31611111111", Channel.WHATSAPP) == "cand-1"
    book.apply(0, "cand-1", _reach(2, "+31622222222"))  # a new number replaces the old ones
    assert await book.candidate_for(KNOWN, Channel.SMS) is None
    book.apply(0, "cand-1", _reach(1, KNOWN))  # an older snapshot changes nothing
    assert await book.candidate_for("+31622222222", Channel.SMS) == "cand-1"
    book.apply(1, "cand-2", _reach(1, "+31622222222"))  # a shared number names nobody
    assert await book.candidate_for("+31622222222", Channel.SMS) is None
    book.apply(0, "cand-1", None)  # erased
    assert await book.candidate_for("+31622222222", Channel.SMS) == "cand-2"
    book.drop([1])
    assert await book.candidate_for("+31622222222", Channel.SMS) is None
    assert len(book) == 0
