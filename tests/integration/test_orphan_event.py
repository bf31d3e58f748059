"""An accepted event whose snapshot is on no topic holds up nobody: it is dead-lettered, the rest flows."""

from __future__ import annotations

import json
import time
from pathlib import Path

from schemas.topics import ATS_ACCEPTED, ATS_EVENTS, dlq_topic
from services.common.kafka import DLQ_ERROR_KIND, DLQ_ERROR_REASON
from services.common.settings import KafkaSettings, MongoSettings
from tests.stacks import services_running
from tests.support import ats_event, eventually, produce, read_topic


async def test_an_event_without_a_snapshot_is_dead_lettered_and_others_are_not_delayed(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str
) -> None:
    async with services_running(kafka, mongo, tmp_path, unique, router={"snapshot_wait_s": 1.0}) as stack:
        orphan = ats_event("ats.stage.changed", f"{unique}-orphan", email="orphan@example.org")
        # Straight onto the internal topic, as no preference service would: no snapshot exists for it.
        await produce(kafka, ATS_ACCEPTED, [orphan])
        started = time.monotonic()
        others = [ats_event("ats.application.received", f"{unique}-{i}", email=f"c{i}@example.org") for i in range(5)]
        await produce(kafka, ATS_EVENTS, others)

        async def all_mailed() -> bool:
            return {m["rcpt_tos"][0] for m in stack.mails()} >= {f"c{i}@example.org" for i in range(5)}

        await eventually(all_mailed, what="every other candidate's mail")
        assert time.monotonic() - started < 8, "the others were held up by the orphan"

        async def dead() -> list[dict[str, str]] | None:
            found = [{k: v.decode() for k, v in r.headers} for r in await read_topic(kafka, dlq_topic(ATS_ACCEPTED))]
            return found or None

        headers = (await eventually(dead, what="the orphan's dead letter"))[0]
        assert headers[DLQ_ERROR_KIND] == "snapshot_missing" and "snapshot" in headers[DLQ_ERROR_REASON]
        assert not [m for m in stack.mails() if m["rcpt_tos"] == ["orphan@example.org"]]
        ready = await stack.router.get("/ready")
        assert ready.status_code == 200, json.dumps(ready.json())
