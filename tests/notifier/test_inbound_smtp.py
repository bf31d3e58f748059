"""The inbound SMTP listener over real SMTP (aiosmtplib as the sending server), on in-memory fakes."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from prometheus_client import CollectorRegistry

from deploy.local.smtp_sink import dsn
from schemas.common import Channel, NotificationStatus
from services.notifier.channels.base import Outcome
from services.notifier.channels.email import EmailAdapter, message_id, verp_sender
from services.notifier.inbound_smtp import InboundMail, start_inbound_smtp
from services.notifier.metrics import NotifierMetrics
from services.notifier.reach import Reach
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import NOW, FakeReports, FakeStore, counter, outgoing
from tests.support import eventually, smtp_sink

NID = "0b6f3a52-93a4-5f0e-9d1c-5a7e0d1f2b3c"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def reach(email: str | None = "sanne@example.org") -> Reach:
    return Reach(1, 0, 0b11111, email, None, None, None, "Sanne", "nl", True)


class BrokenStore(FakeStore):
    async def record_inbound(self, candidate_id: str, channel: str, at: datetime) -> None:
        raise ConnectionError("database down")


@asynccontextmanager
async def listening(
    store: FakeStore, reports: FakeReports, known: Reach | None = None
) -> AsyncIterator[tuple[NotifierSettings, NotifierMetrics]]:
    s = NotifierSettings(inbound_smtp_port=free_port(), callback_match_wait_s=0.2)
    metrics = NotifierMetrics(CollectorRegistry())
    server = await start_inbound_smtp(s, InboundMail(s, store, reports, metrics, lambda _: known, lambda: NOW))
    assert server is not None
    try:
        yield s, metrics
    finally:
        server.close()
        await server.wait_closed()


def sent_email(store: FakeStore, s: NotifierSettings) -> None:
    out = outgoing(Channel.EMAIL, "sanne@example.org", notification_id=NID)
    store.sent(out, "smtp", message_id(NID, s.message_id_domain))


def reply(s: NotifierSettings, text: str, sender: str = "Sanne <sanne@example.org>") -> EmailMessage:
    em = EmailMessage()
    em["From"] = sender
    em["To"] = s.mail_from
    em["Subject"] = "Re: Je gesprek"
    em["Message-ID"] = "<reply-1@mail.example>"
    em["In-Reply-To"] = message_id(NID, s.message_id_domain)
    em.set_content(f"{text}\n\nOp di 1 dec. 2026 om 10:00 schreef Recruitment <recruitment@example.org>:\n> Hoi\n")
    return em


async def test_a_dsn_becomes_bounced_with_the_address_marked_invalid() -> None:
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports) as (s, metrics):
        sent_email(store, s)
        verp = verp_sender(s.bounce_address, NID)
        report = dsn(verp, ["sanne@example.org"], f"Message-ID: {message_id(NID, s.message_id_domain)}\r\n".encode())
        await aiosmtplib.send(report, sender="", recipients=[verp], hostname="127.0.0.1", port=s.inbound_smtp_port)
    [change] = reports.changes
    assert (change.status, change.contact_invalid, change.channel) == (NotificationStatus.BOUNCED, True, Channel.EMAIL)
    assert (change.notification_id, change.ats_event_id, change.attempt) == (NID, "ats-1", 1)
    assert "5.1.1" in change.reason and "@" not in change.reason
    assert counter(metrics, "provider_status", channel="email", status="bounced") == 1


async def test_a_dsn_for_a_message_we_never_sent_is_accepted_and_counted() -> None:
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports) as (s, metrics):
        verp = verp_sender(s.bounce_address, NID)
        await aiosmtplib.send(dsn(verp, ["x@example.org"], b""), sender="", recipients=[verp], port=s.inbound_smtp_port)
    assert reports.changes == []
    assert counter(metrics, "provider_status", channel="email", status="unmatched") == 1


async def test_the_candidates_reply_goes_to_preference_and_marks_the_message_replied() -> None:
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports, reach("Sanne@example.org")) as (s, metrics):
        sent_email(store, s)
        await aiosmtplib.send(reply(s, "STOP"), hostname="127.0.0.1", port=s.inbound_smtp_port)
    [(inbound, event_id)] = reports.replies
    assert (inbound.candidate_id, inbound.channel, inbound.text, inbound.in_reply_to) == (
        "cand-1",
        Channel.EMAIL,
        "STOP",
        NID,
    )
    assert (inbound.application_id, event_id) == ("app-1", "inbound:<reply-1@mail.example>")
    assert [c.status for c in reports.changes] == [NotificationStatus.REPLIED]
    assert store.inbound == {("cand-1", "email"): NOW}
    assert counter(metrics, "replies", channel="email") == 1


@pytest.mark.parametrize("sender", ["Jörg <jörg@xn--bcher-kva.example>", "=?utf-8?q?J=C3=B6rg?= <JÖRG@Bücher.example>"])
async def test_an_internationalised_candidate_is_recognised_in_any_spelling(sender: str) -> None:
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports, reach("jörg@bücher.example")) as (s, metrics):
        sent_email(store, s)
        await aiosmtplib.send(reply(s, "Liever bellen", sender=sender), hostname="127.0.0.1", port=s.inbound_smtp_port)
    [(inbound, _)] = reports.replies
    assert (inbound.candidate_id, inbound.text) == ("cand-1", "Liever bellen")
    assert store.work == {} and counter(metrics, "replies", channel="email") == 1


async def test_the_sinks_dsn_for_a_non_ascii_recipient_becomes_bounced(tmp_path: Path) -> None:
    """The local sink accepts bounce-later-jörg@..., then reports it (RFC 6533 utf-8 address) to the listener."""
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports) as (s, metrics):
        sent_email(store, s)
        assert s.inbound_smtp_port
        async with smtp_sink(tmp_path, dsn_relay=("127.0.0.1", s.inbound_smtp_port)) as (port, _):
            smtp = EmailAdapter(s.model_copy(update={"smtp_port": port}))
            out = outgoing(Channel.EMAIL, "bounce-later-jörg@bücher.example", notification_id=NID)
            assert (await smtp.send(out)).outcome is Outcome.ACCEPTED
            await smtp.close()
            await eventually(lambda: _changed(reports), what="the DSN to reach the listener")
    [change] = reports.changes
    assert (change.status, change.contact_invalid, change.notification_id) == (NotificationStatus.BOUNCED, True, NID)
    assert "5.1.1" in change.reason and "jörg" not in change.reason
    assert counter(metrics, "provider_status", channel="email", status="bounced") == 1


async def _changed(reports: FakeReports) -> bool:
    return bool(reports.changes)


async def test_a_reply_from_another_address_changes_nothing_and_waits_for_a_recruiter() -> None:
    store, reports = FakeStore(), FakeReports()
    async with listening(store, reports, reach()) as (s, metrics):
        sent_email(store, s)
        await aiosmtplib.send(reply(s, "STOP", sender="prankster@example.net"), port=s.inbound_smtp_port)
    assert reports.replies == [] and reports.changes == [] and store.inbound == {}
    [item] = store.work.values()
    assert (item["kind"], item["candidate_id"], item["details"]["text"]) == ("unparsed_reply", "cand-1", "STOP")
    assert "@" not in item["reason"]
    assert counter(metrics, "provider_status", channel="email", status="unverified_sender") == 1


async def test_when_our_side_fails_the_sender_is_told_to_retry() -> None:
    store, reports = BrokenStore(), FakeReports()
    async with listening(store, reports, reach()) as (s, _):
        sent_email(store, s)
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await aiosmtplib.send(reply(s, "STOP"), port=s.inbound_smtp_port)
    assert refused.value.code == 451
    assert reports.replies == []


async def test_off_by_default() -> None:
    s = NotifierSettings()
    handler = InboundMail(
        s, FakeStore(), FakeReports(), NotifierMetrics(CollectorRegistry()), lambda _: None, datetime.now
    )  # type: ignore[arg-type]
    assert await start_inbound_smtp(s, handler) is None
