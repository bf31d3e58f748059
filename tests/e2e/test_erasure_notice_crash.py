"""The ATS hears of a candidate's own erasure exactly once, though the process dies (SIGKILL, a separate
process) right after the erasure or right after the notice reached the broker: the notice was stored before
the erasure, and the restarted service's relay produces it, or finds it already on candidate.events.

The candidate's link no longer works after the erasure, so nobody could ask for the notice again.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from schemas.topics import ATS_EVENTS, CANDIDATE_EVENTS
from services.common.links import sign
from services.common.settings import KafkaSettings, MongoSettings
from services.preference.page_common import csrf_token
from services.preference.settings import PreferenceSettings
from tests.e2e.test_preference_crash import service_env
from tests.processes import ServiceProcess
from tests.support import ats_event, eventually, produce, read_topic

KEY = {"X-API-Key": "dev-only-api-key"}


async def _told(kafka: KafkaSettings, cid: str) -> list[dict[str, Any]]:
    """The erasure notices about a candidate on candidate.events."""
    records = [json.loads(r.value) for r in await read_topic(kafka, CANDIDATE_EVENTS) if r.value]
    return [e for e in records if e["subject"] == cid and e["type"] == "candidate.data.erased"]


async def _outbox(mongo: MongoSettings) -> list[dict[str, Any]]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    try:
        return [d async for d in client[mongo.database]["erasure_notices"].find({})]
    finally:
        await client.close()


@pytest.mark.parametrize(("crash_at", "told_before_restart"), [("after_erase", 0), ("after_erase_notice", 1)])
async def test_the_ats_hears_of_an_erasure_exactly_once_across_a_crash(
    kafka: KafkaSettings, mongo: MongoSettings, tmp_path: Path, unique: str, crash_at: str, told_before_restart: int
) -> None:
    env, cid = service_env(kafka, mongo, unique), f"{unique}-erase"
    secret = PreferenceSettings().link_secret.get_secret_value().encode()  # the processes' own (inherited env)
    token = sign(secret, cid, datetime.now(UTC) + timedelta(days=1))
    crashing = ServiceProcess("preference", {**env, "PREFERENCE_CRASH_AT": crash_at}, tmp_path / "first.log").start()
    try:
        await crashing.ready()
        await produce(kafka, ATS_EVENTS, [ats_event("ats.application.received", cid)])
        async with httpx.AsyncClient(base_url=crashing.url, timeout=10.0) as client:

            async def known() -> bool:
                return (await client.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 200

            await eventually(known, what="the profile from the ATS")
            with pytest.raises(httpx.HTTPError):  # the process dies while the page erases
                await client.post(f"/s/{token}/data/erase", data={"csrf": csrf_token(secret, token), "confirm": "yes"})
        assert await crashing.exited() == -9, "the process must die by SIGKILL at the crash point"
    finally:
        crashing.kill()

    # What the crash left: the notice stored, on the topic only if the crash came after producing it.
    assert len(await _outbox(mongo)) == 1
    assert len(await _told(kafka, cid)) == told_before_restart

    restarted = ServiceProcess("preference", env, tmp_path / "second.log").start()
    try:
        await restarted.ready()
        async with httpx.AsyncClient(base_url=restarted.url) as client:
            gone = await client.get(f"/s/{token}")
            assert gone.status_code == 404  # the link names nobody: the candidate could not ask again
            assert (await client.get(f"/v1/candidates/{cid}/preferences", headers=KEY)).status_code == 404

        async def relayed() -> bool:
            return not await _outbox(mongo)

        await eventually(relayed, what="the relay to finish the notice")
        [notice] = await _told(kafka, cid)  # exactly once, whichever the crash point
        assert notice["data"]["requested_by"] == "candidate" and notice["data"]["candidate_id"] == cid
    finally:
        restarted.stop()
