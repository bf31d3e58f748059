"""Exactly-once sends, as far as SMTP allows: a notifier process SIGKILLed at each crash point, then
restarted, and the SMTP sink's raw receipts counted (no de-duplication).

after_claim  - claimed, nothing sent: the redelivery sends it once.
after_send   - the server accepted it, our record is not written: the one window no SMTP server lets us
               close. The redelivery sends again with the same Message-ID (identifiable) and counts it.
after_record - sent and recorded: the redelivery sends nothing and reports `sent` again.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess, stack_env
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_json


def notifier_env(kafka: KafkaSettings, mongo: MongoSettings, unique: str, smtp_port: int) -> dict[str, str]:
    return {
        **stack_env(kafka, mongo),
        "NOTIFIER_GROUP_PREFIX": f"{unique}.notifier",
        "NOTIFIER_SMTP_PORT": str(smtp_port),
    }


@pytest.mark.parametrize(
    ("crash_at", "receipts", "window"),
    [
        ("after_claim", 1, 1),
        ("after_send", 2, 1),
        ("after_record", 1, 0),
    ],
)
async def test_sends_survive_sigkill_at_every_crash_point(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    crash_at: str,
    receipts: int,
    window: int,
) -> None:
    async with services_running(kafka, mongo, tmp_path, unique, with_notifier=False) as stack:
        env = notifier_env(kafka, mongo, unique, stack.smtp_port)
        crashing = ServiceProcess("notifier", {**env, "NOTIFIER_CRASH_AT": crash_at}, tmp_path / "n1.log").start()
        cid = f"{unique}-nc"
        try:
            await crashing.ready()
            await produce(kafka, ATS_EVENTS, [ats_event("ats.interview.scheduled", cid, email="crash@example.org")])
            assert await crashing.exited() == -9
        finally:
            crashing.kill()

        restarted = ServiceProcess("notifier", env, tmp_path / "n2.log").start()
        try:
            await restarted.ready()

            async def sent() -> list[dict[str, object]] | None:
                found = [
                    e["data"]
                    for e in await read_json(kafka, NOTIFICATIONS_STATUS)
                    if e["subject"] == cid and e["data"]["status"] == "sent"
                ]
                return found or None

            status = (await eventually(sent, timeout=30, what="a `sent` status after restart"))[0]
            mails = [m for m in stack.mails() if m["rcpt_tos"] == ["crash@example.org"]]
            per_id = Counter(m["message_id"] for m in mails)
            assert list(per_id.values()) == [receipts]
            assert set(per_id) == {status["provider_ref"]}  # every copy carries the same Message-ID
            metrics = await _metrics(restarted)
            assert f'notifier_window_resends_total{{channel="email"}} {float(window)}' in metrics or window == 0
        finally:
            restarted.stop()


async def _metrics(process: ServiceProcess) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(f"{process.url}/metrics")).text
