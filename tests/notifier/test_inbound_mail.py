"""Inbound e-mail parsing on samples written the way real servers and mail clients write them."""

from __future__ import annotations

import pytest

from deploy.local.smtp_sink import dsn
from services.notifier.inbound_mail import Bounce, Ignored, Reply, read_inbound
from services.notifier.reply_text import html_text, strip_quoted

NID = "6f1c2d3e-4b5a-5c6d-8e7f-0a1b2c3d4e5f"
DOMAIN = "candidate-comms.local"
BOUNCES = "bounces@example.org"
VERP = f"bounces+{NID}@example.org"


def read(raw: str, rcpt: str = "recruitment@example.org", mail_from: str = "sanne@example.org") -> object:
    return read_inbound(raw.replace("\n", "\r\n").encode(), mail_from, [rcpt], BOUNCES, DOMAIN)


POSTFIX_DSN = f"""\
Return-Path: <>
From: MAILER-DAEMON@mx.example.net (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: {VERP}
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="8F2C61A2E4.1764583200/mx.example.net"
Message-Id: <20261201100002.8F2C61A2E4@mx.example.net>

This is a MIME-encapsulated message.

--8F2C61A2E4.1764583200/mx.example.net
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<sanne.devries@example.net>: host mail.example.net[192.0.2.10] said: 550 5.1.1
    <sanne.devries@example.net>: Recipient address rejected: User unknown

--8F2C61A2E4.1764583200/mx.example.net
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net
X-Postfix-Queue-ID: 8F2C61A2E4
X-Postfix-Sender: rfc822; {VERP}
Arrival-Date: Tue,  1 Dec 2026 10:00:00 +0100 (CET)

Final-Recipient: rfc822; sanne.devries@example.net
Original-Recipient: rfc822;sanne.devries@example.net
Action: failed
Status: 5.1.1
Remote-MTA: dns; mail.example.net
Diagnostic-Code: smtp; 550 5.1.1 <sanne.devries@example.net>: Recipient address
    rejected: User unknown

--8F2C61A2E4.1764583200/mx.example.net
Content-Description: Undelivered Message Headers
Content-Type: text/rfc822-headers

From: Recruitment <recruitment@example.org>
To: sanne.devries@example.net
Subject: Uitnodiging voor je gesprek
Message-ID: <{NID}@{DOMAIN}>
X-Notification-Id: {NID}

--8F2C61A2E4.1764583200/mx.example.net--
"""


def test_a_postfix_hard_bounce_names_its_notification_and_hides_the_address() -> None:
    bounce = read(POSTFIX_DSN, rcpt=VERP, mail_from="")
    assert isinstance(bounce, Bounce)
    assert (bounce.notification_id, bounce.action, bounce.status, bounce.permanent) == (NID, "failed", "5.1.1", True)
    assert "User unknown" in bounce.diagnostic and "@" not in bounce.diagnostic
    assert bounce.reason.startswith("hard bounce reported by the receiving mail server (5.1.1)")
    assert "@" not in bounce.reason


def test_without_verp_the_returned_message_names_the_notification() -> None:
    returned = f"""\
From: postmaster@outlook.example (Microsoft Outlook)
To: {BOUNCES}
Subject: Undeliverable: Je gesprek
MIME-Version: 1.0
Content-Type: multipart/report; report-type="delivery-status"; boundary="b1"

--b1
Content-Type: text/plain; charset="utf-8"

Delivery has failed to these recipients or groups.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns;AM0PR01MB1234.eurprd01.prod.outlook.example

Final-Recipient: rfc822;sanne@example.net
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp;554 5.2.2 mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException

--b1
Content-Type: message/rfc822

Message-ID: <{NID}@{DOMAIN}>
From: Recruitment <recruitment@example.org>
Subject: Je gesprek

Hoi Sanne
--b1--
"""
    bounce = read(returned, rcpt=BOUNCES, mail_from="")
    assert isinstance(bounce, Bounce)
    assert (bounce.notification_id, bounce.status, bounce.permanent) == (NID, "5.2.2", True)
    assert "mailbox full" in bounce.diagnostic


@pytest.mark.parametrize(
    ("action", "status", "permanent"),
    [("delayed", "4.4.7", False), ("failed", "4.4.7", False), ("delivered", "2.0.0", False)],
)
def test_delays_and_soft_failures_are_not_hard_bounces(action: str, status: str, permanent: bool) -> None:
    raw = POSTFIX_DSN.replace("Action: failed", f"Action: {action}").replace("Status: 5.1.1", f"Status: {status}")
    bounce = read(raw, rcpt=VERP, mail_from="")
    assert isinstance(bounce, Bounce)
    assert (bounce.action, bounce.status, bounce.permanent) == (action, status, permanent)


def test_the_sinks_dsn_is_understood() -> None:
    original = f"Message-ID: <{NID}@{DOMAIN}>\r\nX-Notification-Id: {NID}\r\n\r\nHoi".encode()
    raw = dsn(VERP, ["bounce-later-x@example.org"], original).as_bytes()
    bounce = read_inbound(raw, "", [VERP], BOUNCES, DOMAIN)
    assert isinstance(bounce, Bounce) and bounce.permanent and bounce.notification_id == NID


def test_reports_we_cannot_place_or_do_not_handle_are_ignored() -> None:
    unknown = POSTFIX_DSN.replace(f"Message-ID: <{NID}@{DOMAIN}>\nX-Notification-Id: {NID}\n", "Subject: x\n")
    assert read(unknown, rcpt=BOUNCES, mail_from="") == Ignored("dsn_unknown_message")
    arf = POSTFIX_DSN.replace("report-type=delivery-status", "report-type=feedback-report")
    assert read(arf, rcpt=BOUNCES, mail_from="") == Ignored("other_report")
    qmail = "From: MAILER-DAEMON@mx.example.net\nSubject: failure notice\n\nSorry, no mailbox here by that name.\n"
    assert read(qmail, rcpt=VERP, mail_from="") == Ignored("not_a_report")


GMAIL_EN = f"""\
From: Sanne de Vries <Sanne@Example.org>
To: Recruitment <recruitment@example.org>
Subject: Re: Your interview
In-Reply-To: <{NID}@{DOMAIN}>
References: <{NID}@{DOMAIN}>
Message-ID: <CAH1x2y3z@mail.gmail.example>
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000a1b2c3"

--000000000000a1b2c3
Content-Type: text/plain; charset="UTF-8"

STOP

On Tue, 1 Dec 2026 at 10:00, Recruitment <
recruitment@example.org> wrote:

> Dear Sanne,
>
> Your interview is on Tuesday at 10:00.
>

--000000000000a1b2c3
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">STOP</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">On Tue, 1 Dec 2026
at 10:00, Recruitment &lt;recruitment@example.org&gt; wrote:<br></div><blockquote class="gmail_quote">Dear
Sanne,<br>Your interview is on Tuesday.</blockquote></div>

--000000000000a1b2c3--
"""


def test_an_english_gmail_stop_reply_is_just_stop() -> None:
    reply = read(GMAIL_EN)
    assert reply == Reply(
        notification_id=NID, sender="sanne@example.org", text="STOP", message_id="<CAH1x2y3z@mail.gmail.example>"
    )


def test_an_html_only_reply_loses_its_quoted_block() -> None:
    html_part = GMAIL_EN.split('Content-Type: text/html; charset="UTF-8"\n\n', 1)[1].split("\n--0000", 1)[0]
    raw = (
        GMAIL_EN.split("MIME-Version")[0] + f"MIME-Version: 1.0\nContent-Type: text/html; charset=UTF-8\n\n{html_part}"
    )
    reply = read(raw)
    assert isinstance(reply, Reply) and reply.text == "STOP"


OUTLOOK_NL = f"""\
From: "Vries, Sanne de" <sanne@example.org>
To: Recruitment <recruitment@example.org>
Subject: RE: Je gesprek
References: <older@{DOMAIN}.example> <{NID}@{DOMAIN}> <CAother@mail.example>
Message-ID: <AM0PR01MB5678@eurprd01.prod.outlook.example>
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable

Ja, dinsdag om 10:00 past mij prima. Kan ik met de trein komen?

Met vriendelijke groet,
Sanne de Vries
06-12345678

________________________________
Van: Recruitment <recruitment@example.org>
Verzonden: maandag 1 december 2026 10:00
Aan: Vries, Sanne de <sanne@example.org>
Onderwerp: Je gesprek

Beste Sanne, past dinsdag om 10:00?
"""


def test_a_dutch_outlook_reply_loses_the_original_and_the_signature() -> None:
    reply = read(OUTLOOK_NL)
    assert isinstance(reply, Reply)
    assert reply.notification_id == NID  # found among the References, not the first one
    assert reply.text == "Ja, dinsdag om 10:00 past mij prima. Kan ik met de trein komen?"


def test_apple_mail_and_a_phone_footer() -> None:
    raw = f"""\
From: sanne@example.org
To: recruitment@example.org
Subject: Re: Je gesprek
In-Reply-To: <{NID}@{DOMAIN}>
Content-Type: text/plain; charset=utf-8

Liever een sms, mail lees ik bijna nooit

Verstuurd vanaf mijn iPhone

> Op 1 dec. 2026 om 10:00 heeft Recruitment <recruitment@example.org> het volgende geschreven:
>
> Beste Sanne,
"""
    reply = read(raw)
    assert isinstance(reply, Reply) and reply.text == "Liever een sms, mail lees ik bijna nooit"


def test_a_reply_address_names_the_notification_without_threading_headers() -> None:
    raw = "From: sanne@example.org\nTo: replies@example.org\nSubject: vraag\n\nWaar is het gesprek?\n"
    reply = read(raw, rcpt=f"replies+{NID}@example.org")
    assert isinstance(reply, Reply) and reply.notification_id == NID
    unthreaded = read(raw, rcpt="recruitment@example.org")
    assert isinstance(unthreaded, Reply) and unthreaded.notification_id is None


@pytest.mark.parametrize(
    "header", ["Auto-Submitted: auto-replied", "Precedence: bulk", "X-Autoreply: yes", "Auto-Submitted: auto-generated"]
)
def test_automatic_replies_are_not_the_candidate_speaking(header: str) -> None:
    raw = f"From: sanne@example.org\n{header}\nIn-Reply-To: <{NID}@{DOMAIN}>\n\nIk ben afwezig tot 5 januari.\n"
    assert read(raw) == Ignored("automatic_reply")


def test_an_empty_reply_is_ignored() -> None:
    raw = f"From: sanne@example.org\nIn-Reply-To: <{NID}@{DOMAIN}>\n\nOn Tue, 1 Dec 2026, X wrote:\n> hoi\n"
    assert read(raw) == Ignored("empty_reply")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("STOP\n\n-- \nSanne de Vries\nData engineer", "STOP"),
        ("Thanks", "Thanks"),  # a closing alone is the message itself
        ("Bedankt!", "Bedankt!"),
        ("Ja graag.\n\nGroetjes,\nSanne", "Ja graag."),
        (
            "Kind regards,\nSanne\n\nP.S. I also have a question about the salary and whether the role is remote.",
            "Kind regards,\nSanne\n\nP.S. I also have a question about the salary and whether the role is remote.",
        ),
        ("> Kun je dinsdag?\nJa, dinsdag kan.\n> Om 10:00?\nLiever 11:00.", "Ja, dinsdag kan.\nLiever 11:00."),
        ("Prima\n\n-----Original Message-----\nFrom: Recruitment\nSent: Monday\n\nHi", "Prima"),
        ("Op zich prima, maar ik kan pas na vijven.", "Op zich prima, maar ik kan pas na vijven."),
        ("On second thought: no calls please.", "On second thought: no calls please."),
        (
            "Nee\r\n\r\nOp ma 1 dec. 2026 om 10:00 schreef Recruitment <\r\nrecruitment@example.org>:\r\n\r\n> Hoi",
            "Nee",
        ),
    ],
)
def test_strip_quoted(text: str, expected: str) -> None:
    assert strip_quoted(text) == expected


def test_html_text_keeps_line_breaks_and_drops_styles() -> None:
    html = "<html><head><style>p{color:red}</style></head><body><p>Ja</p><p>dinsdag&nbsp;kan<br/>ik</p></body></html>"
    assert strip_quoted(html_text(html)) == "Ja\n\ndinsdag kan\nik"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\nContent-Type: mess",
        b"From: sanne@example.org\r\nContent-Type: text/plain; charset=klingon-8\r\n\r\nSTOP\r\n",
        b"From: =?utf-8?q?broken\r\nIn-Reply-To: <<<>>>\r\nReferences: <\r\n\r\n\xff\xfe",
    ],
)
def test_junk_is_ignored_not_an_error(raw: bytes) -> None:
    assert isinstance(read_inbound(raw, "x@example.net", [VERP, "recruitment@example.org"], BOUNCES, DOMAIN), Ignored)
