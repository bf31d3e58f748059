"""Internationalised e-mail addresses over real SMTP: delivered (A-labels, SMTPUTF8) or refused cleanly.

The project's SMTP sink (aiosmtpd) on a free port, once offering SMTPUTF8 and once as a relay
without it; what arrived is read from the sink's files: envelope, headers and raw bytes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from email import message_from_bytes, message_from_string, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deploy.local.smtp_sink import read_index, serve
from schemas.common import Channel
from schemas.common import EmailAddress as ValidatedEmail
from services.notifier.channels.base import Outcome, Outgoing
from services.notifier.channels.email import NO_SMTPUTF8, EmailAdapter
from services.notifier.channels.mail_address import AddressError, mail_address, same_mailbox
from services.notifier.settings import NotifierSettings
from tests.notifier.provider_doubles import outgoing

JOERG = "jörg@bücher.example"
KIM = "kim@例え.jp"
ANNA = "anna@bücher.example"


@asynccontextmanager
async def sink(directory: Path, smtputf8: bool = True) -> AsyncIterator[int]:
    """The project's SMTP sink on a free port (with or without SMTPUTF8)."""
    server = await serve("127.0.0.1", 0, directory, smtputf8=smtputf8)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def adapter(port: int, **overrides: Any) -> EmailAdapter:
    return EmailAdapter(NotifierSettings(smtp_port=port, smtp_timeout_s=5, **overrides))


def email_out(to: str, notification_id: str = "n-1", subject: str = "Je gesprek bij Bücher & Zn.") -> Outgoing:
    out = outgoing(Channel.EMAIL, to, notification_id=notification_id)
    return replace(out, rendered=replace(out.rendered, subject=subject))


def arrived(directory: Path) -> list[tuple[dict[str, Any], bytes, EmailMessage]]:
    """Every message in the sink: its index line, raw bytes and parsed form."""
    out = []
    for entry in read_index(directory):
        raw = (directory / entry["file"]).read_bytes()
        # RFC 6532 headers are UTF-8 text: the stdlib reads them as such from a str, not from bytes.
        parsed = (
            message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)
            if entry["smtputf8"]
            else message_from_bytes(raw, policy=policy.default)
        )
        assert isinstance(parsed, EmailMessage)
        out.append((entry, raw, parsed))
    return out


def test_the_validated_addresses_are_the_ones_under_test() -> None:
    """Both addresses pass the contract's validation, so the notifier must deliver them or refuse them cleanly."""
    from pydantic import TypeAdapter

    check = TypeAdapter(ValidatedEmail)
    assert check.validate_python(JOERG) == JOERG and check.validate_python(KIM) == KIM


async def test_idn_addresses_are_delivered_through_the_sink_with_a_labels_and_smtputf8(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    async with sink(mail) as port:
        smtp = adapter(port, mail_from="Werving & Selectie Jörg <werving@bücher.example>")
        results = [await smtp.send(email_out(JOERG, "n-jorg")), await smtp.send(email_out(KIM, "n-kim"))]
        await smtp.close()
    assert [(r.outcome, r.reason) for r in results] == [(Outcome.ACCEPTED, ""), (Outcome.ACCEPTED, "")]
    (jorg, jorg_raw, jorg_msg), (kim, kim_raw, kim_msg) = arrived(mail)
    # Envelope: A-label domains; the non-ASCII local part went with SMTPUTF8, the ASCII one without.
    assert jorg["rcpt_tos"] == ["jörg@xn--bcher-kva.example"] and jorg["smtputf8"] is True
    assert kim["rcpt_tos"] == ["kim@xn--r8jz45g.jp"] and kim["smtputf8"] is False
    assert jorg["mail_from"] == "bounces+n-jorg@example.org" and kim["mail_from"] == "bounces+n-kim@example.org"
    # Headers: RFC 6532 UTF-8 only where SMTPUTF8 carried the message; RFC 2047 for the display name.
    assert b"\r\nTo: j\xc3\xb6rg@xn--bcher-kva.example\r\n" in jorg_raw
    assert kim_raw.isascii() and b"\r\nTo: kim@xn--r8jz45g.jp\r\n" in kim_raw
    for msg in (jorg_msg, kim_msg):
        [author] = msg["From"].addresses
        assert (author.display_name, author.username, author.domain) == (
            "Werving & Selectie Jörg",
            "werving",
            "xn--bcher-kva.example",
        )
        assert msg["Subject"] == "Je gesprek bij Bücher & Zn."
        assert not msg.defects and not msg["From"].defects and not msg["Subject"].defects
    assert not kim_msg["To"].defects
    # The stdlib flags every non-ASCII local part, RFC 6532 or not; that is the only remark it has.
    assert [type(d).__name__ for d in jorg_msg["To"].defects] == ["NonASCIILocalPartDefect"]
    [to] = jorg_msg["To"].addresses
    assert (to.username, to.domain) == ("jörg", "xn--bcher-kva.example")
    assert str(kim_msg["Message-ID"]) == "<n-kim@candidate-comms.local>"


async def test_a_relay_without_smtputf8_refuses_only_the_non_ascii_local_part(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    async with sink(mail, smtputf8=False) as port:
        smtp = adapter(port, smtp_connections=1)
        refused = await smtp.send(email_out(JOERG, "n-jorg"))
        kept = [await smtp.send(email_out(a, f"n-{i}")) for i, a in enumerate((ANNA, KIM, "sanne@example.org"))]
        await smtp.close()
    assert (refused.outcome, refused.reason) == (Outcome.PERMANENT, NO_SMTPUTF8)
    assert "jörg" not in refused.reason and "@" not in refused.reason
    assert [r.outcome for r in kept] == [Outcome.ACCEPTED] * 3
    index = read_index(mail)
    assert [e["rcpt_tos"] for e in index] == [
        ["anna@xn--bcher-kva.example"],
        ["kim@xn--r8jz45g.jp"],
        ["sanne@example.org"],
    ]
    assert all(e["smtputf8"] is False for e in index)
    assert all((mail / e["file"]).read_bytes().isascii() for e in index)


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("no-at-sign", "not an e-mail address"),
        ("a b@example.org", "not a plain dot-atom"),
        ("x\r\nRCPT TO:<evil@example.net>@example.org", "not a plain dot-atom"),
        ('"quoted"@example.org', "not a plain dot-atom"),
        ("anna@bü_cher.example", "no IDNA"),
        ("anna@example..org", "not a valid host name"),
        ("x" * 65 + "@example.org", "longer than 64 octets"),
        ("ö" * 33 + "@example.org", "longer than 64 octets"),
    ],
)
async def test_unsendable_addresses_fail_permanently_before_any_connection(to: str, reason: str) -> None:
    smtp = adapter(9)  # nothing listens on port 9: reaching the network would be a transient failure
    result = await smtp.send(email_out(to))
    assert result.outcome is Outcome.PERMANENT and reason in result.reason
    assert "example" not in result.reason  # the reason names no address


def test_addresses_in_smtp_form() -> None:
    assert str(mail_address("Anna.B+tag@Bücher.Example")) == "Anna.B+tag@xn--bcher-kva.example"
    assert str(mail_address("jo\u0308rg@xn--bcher-kva.example")) == "jörg@xn--bcher-kva.example"  # NFC
    assert mail_address(JOERG).uri_form() == "j%C3%B6rg@xn--bcher-kva.example"
    assert mail_address("a&b=c@example.org").uri_form() == "a%26b%3Dc@example.org"
    assert same_mailbox("Jörg@bücher.example", "jörg@XN--BCHER-KVA.example")
    assert not same_mailbox("jorg@bücher.example", "jörg@bücher.example")
    with pytest.raises(AddressError):
        mail_address("@example.org")


_chars = st.characters(codec="utf-8", exclude_categories=("Cs",))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.emails()
    | st.builds(
        lambda local, label, tld: f"{local}@{label}.{tld}",
        st.text(_chars, min_size=1, max_size=20),
        st.text(_chars, min_size=1, max_size=12),
        st.sampled_from(["example", "jp", "de", "org"]),
    )
)
def test_every_address_the_validation_lets_through_can_be_sent(address: str) -> None:
    """What email_validator (the contract's deliverability check) accepts, the adapter can write for SMTP."""
    try:
        normalized = validate_email(address, check_deliverability=False, allow_smtputf8=True).normalized
    except EmailNotValidError:
        return
    sendable = mail_address(normalized)
    assert sendable.domain.isascii() and sendable.local == normalized.rpartition("@")[0]
