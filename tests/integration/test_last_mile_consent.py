"""Opt-out safety: no message goes out on a channel after the candidate's opt-out was acknowledged.

"Acknowledged" means the preference API answered, which it does only after the snapshot is on
preferences.changed. Before sending a batch the notifier reads the end offsets of the candidates'
partitions of that topic and waits until its view has applied them, so a router that decided with an
older view, or a notifier that was paused with commands in its buffer, still cannot send.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from deploy.local.provider_emulator import read_messages
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS
from services.common.settings import KafkaSettings, MongoSettings
from tests.notifier.provider_doubles import emulator
from tests.processes import ServiceProcess, stack_env
from tests.stacks import Running, services_running
from tests.support import DAYTIME, ats_event, eventually, produce, read_json

KEY = {"X-API-Key": "dev-only-api-key"}
PHONE = "+31612345678"


async def sms_first_candidate(stack: Running, kafka: KafkaSettings, cid: str) -> None:
    """A candidate whose ATS opted them into SMS and who put SMS first (no SMS sent yet).

    The application's own message goes out (by e-mail, the default first choice) before SMS is put
    first: decided after the change, it could rightly go by SMS, and this module is about what is sent
    after the opt-out only.
    """
    first = ats_event("ats.application.received", cid, phone=PHONE, opt_ins=("sms",), timezone=DAYTIME)
    await produce(kafka, ATS_EVENTS, [first])

    async def first_sent() -> bool:
        return bool(await outcomes(kafka, {first["id"]}, "sent", "email"))

    await eventually(first_sent, timeout=60, what="the application's message by e-mail")
    r = await stack.preference.patch(
        f"/v1/candidates/{cid}/preferences", headers=KEY, json={"channel_order": ["sms", "email"]}
    )
    assert r.status_code == 200


def sms_to(directory: Path, phone: str) -> list[dict[str, Any]]:
    """Every request the emulator accepted for this number (raw receipts)."""
    return [m for m in read_messages(directory) if phone in json.dumps(m)]


async def revoke_sms(stack: Running, cid: str) -> None:
    r = await stack.preference.post(
        f"/v1/candidates/{cid}/consent",
        headers=KEY,
        json={"channel": "sms", "state": "revoked", "source": "reply", "evidence": "STOP"},
    )
    assert r.status_code == 200 and r.json()["changed"]


async def outcomes(kafka: KafkaSettings, event_ids: set[str], status: str, channel: str) -> list[dict[str, Any]]:
    return [
        e["data"]
        for e in await read_json(kafka, NOTIFICATIONS_STATUS)
        if e["data"]["ats_event_id"] in event_ids and e["data"]["status"] == status and e["data"]["channel"] == channel
    ]


async def test_stop_then_a_burst_sends_nothing_by_sms(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    async with (
        emulator(tmp_path / "provider") as (url, _),
        services_running(kafka, mongo, tmp_path, unique, notifier={"provider_base_url": url}) as stack,
    ):
        cid = f"{unique}-burst"
        await sms_first_candidate(stack, kafka, cid)
        await revoke_sms(stack, cid)  # acknowledged: the snapshot is on the topic
        burst = [
            ats_event("ats.stage.changed", cid, stage="screening", phone=PHONE, opt_ins=("sms",), timezone=DAYTIME)
            for _ in range(30)
        ]
        await produce(kafka, ATS_EVENTS, burst)
        ids = {e["id"] for e in burst}

        async def all_emailed() -> bool:
            return {s["ats_event_id"] for s in await outcomes(kafka, ids, "sent", "email")} == ids

        await eventually(all_emailed, timeout=60, what="an e-mail for every event of the burst")
        assert sms_to(tmp_path / "provider", PHONE) == []


async def test_commands_queued_while_the_notifier_was_paused_are_blocked_after_stop(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    async with (
        emulator(tmp_path / "provider") as (url, _),
        services_running(kafka, mongo, tmp_path, unique, with_notifier=False) as stack,
    ):
        env = {
            **stack_env(kafka, mongo, session_timeout_ms=30000),
            "NOTIFIER_GROUP_PREFIX": f"{unique}.notifier",
            "NOTIFIER_SMTP_PORT": str(stack.smtp_port),
            "NOTIFIER_PROVIDER_BASE_URL": url,
            # A view that applies changes 3 s late: only the send barrier can stop the SMS.
            "NOTIFIER_TEST_VIEW_DELAY_S": "3",
            "NOTIFIER_CONSENT_WAIT_S": "10",
        }
        notifier = ServiceProcess("notifier", env, tmp_path / "notifier.log").start()
        try:
            await notifier.ready()
            cid = f"{unique}-paused"
            await sms_first_candidate(stack, kafka, cid)
            assert notifier.proc is not None
            os.kill(notifier.proc.pid, signal.SIGSTOP)  # paused with a stale view
            events = [
                ats_event("ats.stage.changed", cid, stage="screening", phone=PHONE, opt_ins=("sms",), timezone=DAYTIME)
                for _ in range(10)
            ]
            await produce(kafka, ATS_EVENTS, events)
            ids = {e["id"] for e in events}

            async def queued() -> bool:
                return len(await outcomes(kafka, ids, "queued", "sms")) == len(ids)

            await eventually(queued, what="ten SMS commands queued for the paused notifier")
            await revoke_sms(stack, cid)
            os.kill(notifier.proc.pid, signal.SIGCONT)

            async def blocked() -> list[dict[str, Any]] | None:
                failed = await outcomes(kafka, ids, "failed", "sms")
                return failed if len(failed) == len(ids) else None

            failed = await eventually(blocked, timeout=60, what="every SMS blocked at send time")
            assert all(f["reason"].startswith("blocked at send time") for f in failed)
            assert sms_to(tmp_path / "provider", PHONE) == []
        finally:
            notifier.stop()
