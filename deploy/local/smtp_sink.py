"""A local SMTP sink (aiosmtpd) that records every message it receives.

Each message is written as <dir>/<seq>.eml, and a line is appended to <dir>/index.jsonl with the
envelope, Message-ID, subject and notification id, so tests and people can read what arrived.
Recipients whose local part starts with "bounce" are refused with 550 (a hard bounce at send time);
"tempfail" ones get 451 (a transient failure). "bounce-later" ones are accepted, and then, with
--dsn-relay, the sink mails an RFC 3464 delivery-status notification (5.1.1, failed) to the
message's envelope sender at that host:port, as a receiving server does for a mailbox that turns
out not to exist after it accepted the message; like a real server it retries a report the relay
does not take at once. Raw receipts are never de-duplicated.

The sink offers SMTPUTF8 (RFC 6531), so internationalised addresses arrive as sent; --no-smtputf8
makes it a relay without it, to try how the notifier copes. The index records whether a message came
with SMTPUTF8 and its To header as received.

    python -m deploy.local.smtp_sink --port 2525 --dir .local/mail [--dsn-relay 127.0.0.1:2526] [--no-smtputf8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
from datetime import UTC, datetime
from email import policy
from email.encoders import encode_base64
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.parser import BytesHeaderParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

LATER = "bounce-later"
_HEADERS = BytesHeaderParser(policy=policy.default)
DSN_RETRY_DELAYS_S = (0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # about a minute, then the report is dropped


def _header(msg: Message, name: str) -> str | None:
    value = msg.get(name)
    return None if value is None else str(value)


def xtext_address(address: str) -> str:
    """An address for a DSN field: ASCII as is, else RFC 6533 utf-8-addr-xtext (\\x{HEX} per non-ASCII char)."""
    return "".join(ch if " " < ch < "\x7f" and ch not in "\\+=" else f"\\x{{{ord(ch):X}}}" for ch in address)


class Recorder:
    """aiosmtpd handler: accept, record to disk, refuse the test addresses."""

    def __init__(self, directory: Path, dsn_relay: tuple[str, int] | None = None) -> None:
        self.directory = directory
        self.dsn_relay = dsn_relay
        self._reports: set[asyncio.Task[None]] = set()
        directory.mkdir(parents=True, exist_ok=True)
        index = directory / "index.jsonl"
        self._seq = sum(1 for _ in index.open()) if index.exists() else 0
        self._lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse the test addresses, accept everything else."""
        local = address.split("@", 1)[0].lower()
        if local.startswith(LATER):
            envelope.rcpt_tos.append(address)
            return "250 OK"
        if local.startswith("bounce"):
            return "550 5.1.1 mailbox does not exist"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Write the message and its index line."""
        raw = envelope.original_content or b""
        msg = _HEADERS.parsebytes(raw)  # headers only: parsing the MIME body cost ~1 ms a message
        with self._lock:
            self._seq += 1
            seq = self._seq
            path = self.directory / f"{seq:08d}.eml"
            path.write_bytes(raw)
            entry: dict[str, Any] = {
                "seq": seq,
                "received_at": datetime.now(UTC).isoformat(),
                "mail_from": envelope.mail_from,
                "rcpt_tos": list(envelope.rcpt_tos),
                "message_id": msg.get("Message-ID"),
                "notification_id": msg.get("X-Notification-Id"),
                "to": _header(msg, "To"),
                "subject": _header(msg, "Subject"),
                "smtputf8": envelope.smtp_utf8,
                "size": len(raw),
                "file": path.name,
            }
            with (self.directory / "index.jsonl").open("a") as index:
                index.write(json.dumps(entry) + "\n")
        failed = [r for r in envelope.rcpt_tos if r.split("@", 1)[0].lower().startswith(LATER)]
        if failed and self.dsn_relay and envelope.mail_from:  # never report on a report (null sender)
            task = asyncio.create_task(self._report(envelope.mail_from, failed, raw))
            self._reports.add(task)
            task.add_done_callback(self._reports.discard)
        return "250 Message accepted for delivery"

    async def _report(self, to: str, failed: list[str], original: bytes) -> None:
        """Deliver the DSN; a relay that is not up yet (the notifier starting) is tried again for a while."""
        assert self.dsn_relay is not None
        host, port = self.dsn_relay
        report = dsn(to, failed, original)
        for delay in (*DSN_RETRY_DELAYS_S, None):
            try:
                await aiosmtplib.send(report, sender="", recipients=[to], hostname=host, port=port)
                return
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code >= 500:
                    delay = None  # refused for good: a real server would drop the report too
                error = f"{exc.code}"
            except (aiosmtplib.SMTPException, OSError) as exc:
                error = type(exc).__name__
            if delay is None:
                print(f"smtp-sink: could not deliver a DSN to {host}:{port} ({error}); dropped", flush=True)
                return
            await asyncio.sleep(delay)


def dsn(to: str, failed: list[str], original: bytes) -> Message:
    """An RFC 3464 report: human text, message/delivery-status, the returned headers."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = "Mail Delivery System <MAILER-DAEMON@smtp-sink>"
    report["To"] = to
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report["Date"] = format_datetime(datetime.now(UTC))
    report["Message-ID"] = make_msgid(domain="smtp-sink")
    report["Auto-Submitted"] = "auto-replied"
    report.attach(MIMEText("Your message could not be delivered: the mailbox does not exist.\n"))
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; smtp-sink"
    per_message["Arrival-Date"] = format_datetime(datetime.now(UTC))
    blocks: list[Message | str] = [per_message]
    for rcpt in failed:
        block = Message()
        # RFC 6533: an address that is not ASCII is typed utf-8 and written as xtext, keeping the report 7-bit.
        block["Final-Recipient"] = f"rfc822; {rcpt}" if rcpt.isascii() else f"utf-8; {xtext_address(rcpt)}"
        block["Action"] = "failed"
        block["Status"] = "5.1.1"
        block["Diagnostic-Code"] = "smtp; 550 5.1.1 mailbox does not exist"
        blocks.append(block)
    status = Message()
    status["Content-Type"] = "message/delivery-status"
    status.set_payload(blocks)
    report.attach(status)
    returned = original.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    headers = Message()
    if returned.isascii():
        headers["Content-Type"] = "text/rfc822-headers"
        headers.set_payload(returned.decode("ascii"))
    else:  # RFC 6532 headers of an SMTPUTF8 message: returned base64-encoded, so the report stays 7-bit
        headers["Content-Type"] = 'text/rfc822-headers; charset="utf-8"'
        headers.set_payload(returned)
        encode_base64(headers)
    report.attach(headers)
    return report


def read_index(directory: Path) -> list[dict[str, Any]]:
    """Every recorded message's index line, in arrival order."""
    index = directory / "index.jsonl"
    if not index.exists():
        return []
    return [json.loads(line) for line in index.read_text().splitlines() if line.strip()]


async def serve(
    host: str, port: int, directory: Path, dsn_relay: tuple[str, int] | None = None, smtputf8: bool = True
) -> asyncio.Server:
    """Start the sink in the running loop (DSNs for "bounce-later" recipients go to dsn_relay, if given)."""
    recorder = Recorder(directory, dsn_relay)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(recorder, data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=smtputf8, hostname="smtp-sink"),
        host=host,
        port=port,
    )


async def _main(
    host: str, port: int, directory: Path, dsn_relay: tuple[str, int] | None, smtputf8: bool = True
) -> None:
    server = await serve(host, port, directory, dsn_relay, smtputf8)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    relay = f", DSNs to {dsn_relay[0]}:{dsn_relay[1]}" if dsn_relay else ""
    utf8 = "" if smtputf8 else ", without SMTPUTF8"
    print(f"smtp-sink listening on {host}:{port}, writing to {directory}{relay}{utf8} (pid {os.getpid()})", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Record every e-mail received over SMTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path(".local/mail"))
    parser.add_argument(
        "--dsn-relay", type=_host_port, default=None, help="host:port to mail DSNs for bounce-later recipients to"
    )
    parser.add_argument("--no-smtputf8", dest="smtputf8", action="store_false", help="do not offer SMTPUTF8 (RFC 6531)")
    args = parser.parse_args()
    asyncio.run(_main(args.host, args.port, args.dir, args.dsn_relay, args.smtputf8))


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError("expected host:port")
    return host, int(port)


if __name__ == "__main__":
    main()
