"""A local SMTP sink (aiosmtpd) that records every message it receives.

Each message is written as <dir>/<seq>.eml, and a line is appended to <dir>/index.jsonl with the
envelope, Message-ID, subject and notification id, so tests and people can read what arrived.
Recipients whose local part starts with "bounce" are refused with 550 (a hard bounce at send time);
"tempfail" ones get 451 (a transient failure). Raw receipts are never de-duplicated.

    python -m deploy.local.smtp_sink --port 2525 --dir .local/mail
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import threading
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class Recorder:
    """aiosmtpd handler: accept, record to disk, refuse the test addresses."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        index = directory / "index.jsonl"
        self._seq = sum(1 for _ in index.open()) if index.exists() else 0
        self._lock = threading.Lock()

    async def handle_RCPT(  # noqa: N802 - the name aiosmtpd calls
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        """Refuse the test addresses, accept everything else."""
        local = address.split("@", 1)[0].lower()
        if local.startswith("bounce"):
            return "550 5.1.1 mailbox does not exist"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        """Write the message and its index line."""
        raw = envelope.original_content or b""
        msg = message_from_bytes(raw, policy=policy.default)
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
                "subject": msg.get("Subject"),
                "size": len(raw),
                "file": path.name,
            }
            with (self.directory / "index.jsonl").open("a") as index:
                index.write(json.dumps(entry) + "\n")
        return "250 Message accepted for delivery"


def read_index(directory: Path) -> list[dict[str, Any]]:
    """Every recorded message's index line, in arrival order."""
    index = directory / "index.jsonl"
    if not index.exists():
        return []
    return [json.loads(line) for line in index.read_text().splitlines() if line.strip()]


async def serve(host: str, port: int, directory: Path) -> asyncio.Server:
    """Start the sink in the running loop."""
    recorder = Recorder(directory)
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: SMTP(recorder, data_size_limit=10 * 1024 * 1024, enable_SMTPUTF8=True, hostname="smtp-sink"),
        host=host,
        port=port,
    )


async def _main(host: str, port: int, directory: Path) -> None:
    server = await serve(host, port, directory)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    print(f"smtp-sink listening on {host}:{port}, writing to {directory} (pid {os.getpid()})", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description="Record every e-mail received over SMTP.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    parser.add_argument("--dir", type=Path, default=Path(".local/mail"))
    args = parser.parse_args()
    asyncio.run(_main(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
