"""Scale-out: three router processes share one consumer group on 6 co-partitioned partitions; one is
SIGKILLed mid-stream. The others take over its partitions, rebuild exactly those candidates'
preferences from preferences.changed before handling a record, and every ATS event is decided once.

Which layer guarantees what: the broker redelivers the killed instance's uncommitted batch to the new
owner (nothing lost); the router's deterministic notification ids make the redelivered decisions
identical; the notifier's claim per notification id makes the redelivered dispatch a no-op at the sink
(nothing doubled)."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from deploy.local.components import local_whatsapp_templates
from schemas.common import Channel
from schemas.topics import ATS_EVENTS, NOTIFICATIONS_STATUS, dispatch_topic
from services.common.kafka import create_topics, delete_prefixed_topics
from services.common.settings import KafkaSettings, MongoSettings
from tests.processes import ServiceProcess, stack_env
from tests.stacks import service_settings
from tests.support import DAYTIME, ats_event, eventually, produce, read_json, running, smtp_sink

KEY = {"X-API-Key": "dev-only-api-key"}
CANDIDATES = 36


def router_env(kafka: KafkaSettings, mongo: MongoSettings, unique: str) -> dict[str, str]:
    return {
        **stack_env(kafka, mongo),
        "KAFKA_PARTITIONS": "6",
        "ROUTER_GROUP_ID": f"{unique}.router",
        "ROUTER_LOG_LEVEL": "DEBUG",
        "CHANNELS_WHATSAPP_TEMPLATES": local_whatsapp_templates(),  # WhatsApp can carry every message
    }


async def test_killing_one_of_three_routers_loses_nothing_and_doubles_nothing(
    local_stack: Any, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    kafka = KafkaSettings(
        bootstrap_servers=local_stack.bootstrap, topic_prefix=f"{unique}.", partitions=6, session_timeout_ms=2000
    )
    await create_topics(kafka)
    try:
        await _scenario(kafka, mongo, tmp_path, unique)
    finally:
        await delete_prefixed_topics(kafka)


async def _scenario(kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str) -> None:
    port_and_mails = smtp_sink(tmp_path / "mail")
    async with port_and_mails as (port, mails):
        s = service_settings(kafka, mongo, unique, port)
        from services.notifier.app import create_app as notifier_app
        from services.preference.app import create_app as preference_app

        async with running(preference_app(s["preference"])) as pref, running(notifier_app(s["notifier"])):
            ids = [f"{unique}-{i:02d}" for i in range(CANDIDATES)]
            # Even candidates stop e-mail and choose WhatsApp; odd ones keep the default (e-mail).
            await produce(
                kafka,
                ATS_EVENTS,
                [
                    ats_event(
                        "ats.application.received", c, phone="+31612345678", opt_ins=("whatsapp",), timezone=DAYTIME
                    )
                    for c in ids
                ],
            )
            await eventually(lambda: _all_exist(pref, ids), what="all profiles")
            for c in ids[::2]:
                r = await pref.patch(
                    f"/v1/candidates/{c}/preferences", headers=KEY, json={"channel_order": ["whatsapp"]}
                )
                assert r.status_code == 200
                r = await pref.post(
                    f"/v1/candidates/{c}/consent",
                    headers=KEY,
                    json={"channel": "email", "state": "revoked", "source": "recruiter"},
                )
                assert r.status_code == 200

            env = router_env(kafka, mongo, unique)
            routers = [ServiceProcess("router", env, tmp_path / f"router{i}.log").start() for i in range(3)]
            try:
                await asyncio.gather(*(r.ready() for r in routers))
                first = [
                    ats_event(
                        "ats.stage.changed",
                        c,
                        stage="screening",
                        phone="+31612345678",
                        opt_ins=("whatsapp",),
                        timezone=DAYTIME,
                    )
                    for c in ids
                ]
                await produce(kafka, ATS_EVENTS, first)
                routers[0].kill()  # SIGKILL mid-stream: its partitions move to the other two
                second = [
                    ats_event(
                        "ats.stage.changed",
                        c,
                        stage="documents",
                        phone="+31612345678",
                        opt_ins=("whatsapp",),
                        timezone=DAYTIME,
                    )
                    for c in ids
                ]
                await produce(kafka, ATS_EVENTS, second)
                events = first + second
                decided = await eventually(
                    lambda: _decided(kafka, {e["id"] for e in events}), timeout=60, what="a decision for every event"
                )
            finally:
                for r in routers:
                    r.stop()

            # Every event decided exactly once, on the channel of the candidate's current preferences.
            by_event = Counter(d["ats_event_id"] for d in decided.values())
            assert set(by_event.values()) == {1}, "an event was decided twice with different outcomes"
            for d in decided.values():
                even = ids.index(d["candidate_id"]) % 2 == 0
                assert d["channel"] == ("whatsapp" if even else "email"), d
            # The notifier sent each e-mail once, even if a command was redelivered.
            email_ids = {n for n, d in decided.items() if d["channel"] == "email"}
            await eventually(lambda: _mailed(mails, email_ids), timeout=30, what="every e-mail at the sink")
            receipts = Counter(m["notification_id"] for m in mails() if m["notification_id"] in email_ids)
            assert set(receipts.values()) == {1}
            whatsapp = {
                d["data"]["notification_id"]
                for d in await read_json(kafka, dispatch_topic(Channel.WHATSAPP))
                if d["data"]["ats_event_id"] in by_event
            }
            assert whatsapp == {n for n, d in decided.items() if d["channel"] == "whatsapp"}


async def _all_exist(pref: Any, ids: list[str]) -> bool:
    codes = [(await pref.get(f"/v1/candidates/{c}/preferences", headers=KEY)).status_code for c in ids]
    return all(code == 200 for code in codes)


async def _decided(kafka: KafkaSettings, event_ids: set[str]) -> dict[str, dict[str, Any]] | None:
    queued = {
        e["data"]["notification_id"]: e["data"]
        for e in await read_json(kafka, NOTIFICATIONS_STATUS)
        if e["data"]["status"] == "queued" and e["data"]["ats_event_id"] in event_ids
    }
    return queued if {d["ats_event_id"] for d in queued.values()} == event_ids else None


async def _mailed(mails: Any, ids: set[str]) -> bool:
    return ids <= {m["notification_id"] for m in mails()}
