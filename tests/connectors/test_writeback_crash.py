"""Exactly-once notes across a crash: the connector as a real process, SIGKILLed at each write-back crash point,
then restarted; the Greenhouse emulator's raw notes (never de-duplicated) counted per (notification, state).

after_attempt - the attempt is recorded, the ATS has not been called: the restart lists the candidate's
                notes (Harvest GET /v1/candidates/{id}/activity_feed, developers.greenhouse.io/harvest.html
                #get-retrieve-activity-feed), finds no marker and writes the note once.
after_note    - the ATS accepted the note, our "written" mark is not stored: the restart finds the note's
                marker in the list, marks its keys written and sends nothing again (outcome "recovered").
"""

from __future__ import annotations

import uuid
from collections import Counter
from pathlib import Path

import httpx
import pytest

from deploy.local.ats_emulators import EmulatorState
from deploy.local.ats_emulators import create_app as emulators_app
from services.common.settings import KafkaSettings, MongoSettings
from tests.connectors.conftest import SECRETS
from tests.connectors.test_writeback import CANDIDATE, status
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.notifier.provider_doubles import serving
from tests.processes import ServiceProcess, stack_env
from tests.support import eventually, produce


def connector_env(kafka: KafkaSettings, mongo: MongoSettings, unique: str, api_url: str) -> dict[str, str]:
    """The connector process's environment: this test's topics, database and group; Greenhouse on the emulator."""
    gh = "CONNECTORS_CONNECTIONS__GREENHOUSE__"
    return {
        **stack_env(kafka, mongo),
        "CONNECTORS_GROUP_ID": f"{unique}.connectors",
        "CONNECTORS_API_BACKOFF_S": "0.01",
        gh + "SECRET": SECRETS["greenhouse"],
        gh + "API_URL": f"{api_url}/greenhouse",
        gh + "API_KEY": "dev-greenhouse-key",
        gh + "OPTIONS": '{"on_behalf_of": "4080"}',
    }


@pytest.mark.parametrize(("crash_at", "accepted_before_crash"), [("after_attempt", 0), ("after_note", 1)])
async def test_a_note_is_written_once_whatever_the_crash_point(
    kafka: KafkaSettings,
    mongo: MongoSettings,
    tmp_path: Path,
    unique: str,
    crash_at: str,
    accepted_before_crash: int,
) -> None:
    state = EmulatorState()
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    async with serving(emulators_app(state)) as api_url:
        env = connector_env(kafka, mongo, unique, api_url)
        crashing = ServiceProcess("connectors", {**env, "CONNECTORS_CRASH_AT": crash_at}, tmp_path / "c1.log").start()
        try:
            await crashing.ready()
            body = body_of(fixture("greenhouse", "new_candidate_application"))
            async with httpx.AsyncClient(base_url=crashing.url) as client:
                linked = await client.post(
                    "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRETS["greenhouse"])
                )
            assert linked.status_code == 202, linked.text
            await produce(kafka, "notifications.status", [status(CANDIDATE, first, "sent", 1)])
            await produce(kafka, "notifications.status", [status(CANDIDATE, first, "delivered", 2)])
            assert await crashing.exited() == -9
        finally:
            crashing.kill()
        assert len(state.notes) == accepted_before_crash

        restarted = ServiceProcess("connectors", env, tmp_path / "c2.log").start()
        try:
            await restarted.ready()
            # A later state of the same candidate (one partition): once its line is there, the redelivery is done.
            await produce(kafka, "notifications.status", [status(CANDIDATE, second, "bounced", 5)])
            await eventually(
                lambda: _with(state, "bounced"), timeout=30, what="the note of the state after the restart"
            )
            async with httpx.AsyncClient(base_url=restarted.url) as client:
                metrics = (await client.get("/metrics")).text
        finally:
            restarted.stop()

    lines = Counter(line for n in state.notes for line in n["body"].splitlines() if line.startswith("- "))
    assert sorted(lines.values()) == [1, 1, 1], lines  # sent, delivered, bounced: each (notification, state) once
    assert all(n["body"].splitlines()[-1].startswith("ref: candidate-comms/") for n in state.notes)
    listed = [c for c in state.calls if c["method"] == "GET" and c["path"].endswith("/activity_feed")]
    assert listed, "the restart looked into the candidate's activity feed"
    recovered = 'connector_notes_total{connection="greenhouse",outcome="recovered"} 1.0'
    assert (recovered in metrics) == bool(accepted_before_crash), metrics


async def _with(state: EmulatorState, text: str) -> bool:
    return any(text in n["body"] for n in state.notes)
