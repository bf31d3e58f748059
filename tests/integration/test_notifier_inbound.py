"""Inbound e-mail on the real broker and database: a late bounce (DSN) and replies by e-mail.

The SMTP sink accepts mail for bounce-later-* and then mails a DSN to the envelope sender, relayed
to the notifier's inbound SMTP port, as a receiving server does when a mailbox turns out not to
exist. Replies are sent to that port as the recruitment domain's MX would hand them over.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import aiosmtplib
import httpx
import pytest

from schemas.topics import ATS_EVENTS, CANDIDATE_INBOUND, NOTIFICATIONS_STATUS
from services.common.settings import KafkaSettings, MongoSettings
from services.notifier.app import create_app as notifier_app
from services.preference.app import create_app as preference_app
from services.router.app import create_app as router_app
from tests.stacks import service_settings
from tests.support import DAYTIME, ats_event, eventually, produce, read_json, running, smtp_sink

KEY = {"X-API-Key": "dev-only-api-key"}


@dataclass
class Stack:
    preference: httpx.AsyncClient
    notifier: httpx.AsyncClient
    mail_dir: Path
    mails: Any
    inbound_port: int


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def stack(kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str) -> AsyncIterator[Stack]:
    """tests.stacks.services_running, with the notifier listening for mail and the sink relaying DSNs to it."""
    inbound = free_port()
    async with AsyncExitStack() as es:
        port, mails = await es.enter_async_context(smtp_sink(tmp_path / "mail", dsn_relay=("127.0.0.1", inbound)))
        s = service_settings(kafka, mongo, unique, port, notifier={"inbound_smtp_port": inbound})
        pref = await es.enter_async_context(running(preference_app(s["preference"])))
        await es.enter_async_context(running(router_app(s["router"])))
        notifier = await es.enter_async_context(running(notifier_app(s["notifier"])))
        yield Stack(pref, notifier, tmp_path / "mail", mails, inbound)


async def wait_status(kafka: KafkaSettings, cid: str, status: str, **match: Any) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        events = [e["data"] for e in await read_json(kafka, NOTIFICATIONS_STATUS) if e["subject"] == cid]
        hits = [d for d in events if d["status"] == status and all(d.get(k) == v for k, v in match.items())]
        return hits or None

    return await eventually(found, what=f"{status} {match or ''} for {cid}")


async def preferences(stack: Stack, cid: str) -> dict[str, Any]:
    r = await stack.preference.get(f"/v1/candidates/{cid}/preferences", headers=KEY)
    return r.json() if r.status_code == 200 else {}


async def test_a_late_bounce_falls_back_and_marks_the_address_invalid(stack: Stack, kafka: KafkaSettings) -> None:
    cid = "cand-late-bounce"
    event = ats_event(
        "ats.interview.scheduled",
        cid,
        email="bounce-later-x@example.org",
        phone="+31612345678",
        opt_ins=("sms",),
        timezone=DAYTIME,
    )
    await produce(kafka, ATS_EVENTS, [event])
    sent = (await wait_status(kafka, cid, "sent", channel="email"))[0]
    bounced = (await wait_status(kafka, cid, "bounced", notification_id=sent["notification_id"]))[0]
    assert bounced["contact_invalid"] is True and "5.1.1" in bounced["reason"]
    assert "@" not in bounced["reason"]
    fallback = (await wait_status(kafka, cid, "queued", channel="sms"))[0]
    assert fallback["attempt"] == 2 and fallback["reason"].startswith("fallback after bounced on email")

    async def marked_invalid() -> dict[str, Any] | None:
        email = (await preferences(stack, cid)).get("contacts", {}).get("email") or {}
        return email if email.get("valid") is False else None

    email = await eventually(marked_invalid, what="the preference service marking the address invalid")
    assert "5.1.1" in (email["invalid_reason"] or "")
    assert [m["rcpt_tos"] for m in stack.mails()] == [["bounce-later-x@example.org"]]  # accepted, then bounced


def reply_to(original: EmailMessage, text: str, sender: str = "Sanne de Vries <sanne@example.org>") -> EmailMessage:
    """A reply as a Dutch Gmail user writes it: new text on top, the attribution, the original quoted."""
    body = original.get_body(preferencelist=("plain",))
    quoted = "\n".join(f"> {line}".rstrip() for line in body.get_content().splitlines()) if body else ""
    em = EmailMessage()
    em["From"] = sender
    em["To"] = str(original["From"])
    em["Subject"] = f"Re: {original['Subject']}"
    em["Message-ID"] = "<CAJ7reply1@mail.example.net>"
    em["In-Reply-To"] = str(original["Message-ID"])
    em["References"] = str(original["Message-ID"])
    em.set_content(
        f"{text}\n\nOp di 1 dec. 2026 om 10:00 schreef Recruitment <\nrecruitment@example.org>:\n\n{quoted}\n"
    )
    return em


async def invite_received(stack: Stack, kafka: KafkaSettings, cid: str) -> tuple[dict[str, Any], EmailMessage]:
    await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", cid)])
    sent = (await wait_status(kafka, cid, "sent", channel="email"))[0]
    [entry] = [m for m in stack.mails() if m["notification_id"] == sent["notification_id"]]
    original = message_from_bytes((stack.mail_dir / entry["file"]).read_bytes(), policy=policy.default)
    assert isinstance(original, EmailMessage)
    return sent, original


async def test_stop_by_email_is_a_reply_and_revokes_email_consent(stack: Stack, kafka: KafkaSettings) -> None:
    cid = "cand-stop"
    sent, original = await invite_received(stack, kafka, cid)
    await aiosmtplib.send(reply_to(original, "STOP"), hostname="127.0.0.1", port=stack.inbound_port)

    replied = (await wait_status(kafka, cid, "replied", notification_id=sent["notification_id"]))[0]
    assert replied["channel"] == "email" and replied["provider_ref"] == "<CAJ7reply1@mail.example.net>"
    [inbound] = [e["data"] for e in await read_json(kafka, CANDIDATE_INBOUND) if e["subject"] == cid]
    assert (inbound["text"], inbound["channel"], inbound["in_reply_to"]) == ("STOP", "email", sent["notification_id"])

    async def revoked() -> dict[str, Any] | None:
        consent = (await preferences(stack, cid)).get("consent", {}).get("email", {}).get("application", {})
        return consent if consent.get("state") == "revoked" else None

    consent = await eventually(revoked, what="e-mail consent revoked")
    assert consent["source"] == "reply"


async def test_a_question_by_email_reaches_the_worklist_and_a_strangers_stop_changes_nothing(
    stack: Stack, kafka: KafkaSettings
) -> None:
    cid = "cand-question"
    sent, original = await invite_received(stack, kafka, cid)
    await aiosmtplib.send(reply_to(original, "STOP", sender="someone@example.net"), port=stack.inbound_port)
    await aiosmtplib.send(reply_to(original, "Kan ik met de trein komen?"), port=stack.inbound_port)

    async def items() -> list[dict[str, Any]] | None:
        body = (await stack.notifier.get("/v1/worklist", params={"kind": "unparsed_reply"}, headers=KEY)).json()
        found = [i for i in body["items"] if i["candidate_id"] == cid]
        return found if len(found) == 2 else None

    found = {i["id"].split(":")[0]: i for i in await eventually(items, what="two replies on the worklist")}
    assert found["unverified_reply"]["details"]["text"] == "STOP"
    assert found["unparsed_reply"]["channel"] == "email"
    assert found["unparsed_reply"]["notification_id"] == sent["notification_id"]
    inbound = [e["data"]["text"] for e in await read_json(kafka, CANDIDATE_INBOUND) if e["subject"] == cid]
    assert inbound == ["Kan ik met de trein komen?"]
    consent = (await preferences(stack, cid))["consent"].get("email", {}).get("application", {})
    assert consent.get("state", "unknown") != "revoked"
