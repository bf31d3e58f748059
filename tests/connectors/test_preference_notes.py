"""Write-back of the candidate's own preference changes: preferences.changed (librdkafka) becomes notes in the ATS.

Through real Kafka and the Greenhouse emulator over HTTP: only versions the candidate made, only linked
candidates, once per (candidate, version) however often redelivered, retried while the ATS fails; tombstones
skipped, old history not written, a record under another candidate's key dead-lettered.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from deploy.local.ats_emulators import EmulatorState
from schemas.common import ChangeSource, Channel, ConsentState, Stage
from schemas.preferences import ChannelConsent, ConsentRecord, PreferencesChangedEvent, PreferenceSnapshot
from services.common.settings import KafkaSettings
from services.connectors.notes import note_marker
from services.connectors.preference_notes import preference_note_text, worth_a_note
from services.connectors.settings import ConnectorSettings
from tests.connectors.conftest import SECRETS, ConnectorFactory, connections
from tests.connectors.webhooks import body_of, fixture, greenhouse_headers
from tests.support import eventually, produce

CANDIDATE = "greenhouse:60304594"
NOW = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=1)


def snapshot(
    candidate: str, version: int, source: ChangeSource, at: datetime = NOW, **fields: Any
) -> PreferenceSnapshot:
    return PreferenceSnapshot(
        candidate_id=candidate,
        version=version,
        updated_at=at + timedelta(minutes=version),
        last_change_source=source,
        **fields,
    )


def event(s: PreferenceSnapshot) -> dict[str, Any]:
    return PreferencesChangedEvent.of(s).model_dump(mode="json")


REVOKED_SMS = {Channel.SMS: ChannelConsent(application=ConsentRecord(state=ConsentState.REVOKED))}


async def test_the_candidates_own_changes_become_one_note_per_version(
    connector: ConnectorFactory, kafka: KafkaSettings, ats_api: tuple[str, EmulatorState]
) -> None:
    url, state = ats_api
    body = body_of(fixture("greenhouse", "new_candidate_application"))
    page = snapshot(
        CANDIDATE,
        2,
        ChangeSource.SELF_SERVICE,
        channel_order=(Channel.WHATSAPP, Channel.EMAIL),
        stage_overrides={Stage.INTERVIEW_SCHEDULING: (Channel.EMAIL,)},
        consent=REVOKED_SMS,
    )
    reply = snapshot(
        CANDIDATE, 4, ChangeSource.REPLY, consent=REVOKED_SMS, paused_until=NOW + timedelta(days=3), voicemail=False
    )
    async with connector(connections=connections(url), api_attempts=2) as client:
        linked = await client.post(
            "/v1/webhooks/greenhouse", content=body, headers=greenhouse_headers(body, SECRETS["greenhouse"])
        )
        assert linked.status_code == 202
        state.failures["greenhouse"] = [503, 503]  # the first round fails; the note still arrives once
        await produce(
            kafka,
            "preferences.changed",
            [
                event(snapshot(CANDIDATE, 1, ChangeSource.SELF_SERVICE, at=NOW - timedelta(days=30))),  # history
                event(snapshot(CANDIDATE, 3, ChangeSource.ATS_IMPORT)),  # the ATS knows
                event(page),
                event(snapshot("greenhouse:someone-else", 2, ChangeSource.SELF_SERVICE)),  # no webhook linked them
            ],
            key=None,
        )
        await produce(kafka, "preferences.changed", [None], key=CANDIDATE)  # an erasure: skipped, not a dead letter
        # Another candidate's snapshot under this candidate's key: never a note on the wrong person.
        wrong = event(snapshot("greenhouse:someone-else", 9, ChangeSource.SELF_SERVICE))
        await produce(kafka, "preferences.changed", [wrong], key=CANDIDATE)
        await eventually(lambda: _with(state, "on the preference page"), what="the note of the page change")
        await produce(kafka, "preferences.changed", [event(page), event(page)])  # redelivered: not written again
        await produce(
            kafka, "preferences.changed", [event(snapshot(CANDIDATE, 5, ChangeSource.RECRUITER)), event(reply)]
        )
        await eventually(lambda: _with(state, "by reply"), what="the note of the reply")
        metrics = (await client.get("/metrics")).text

    notes = state.notes
    assert {(n["candidate_id"], n["on_behalf_of"]) for n in notes} == {("60304594", "4080")}
    bodies = sorted(n["body"] for n in notes)
    assert [b.rsplit("\n", 1)[0] for b in bodies] == sorted(
        [preference_note_text([page]), preference_note_text([reply])]
    )
    assert {b.rsplit("\n", 1)[1] for b in bodies} == {  # each note's marker: the hash of its key
        note_marker([f"preferences:{CANDIDATE}:{v}"]) for v in (2, 4)
    }
    page_line = notes[0]["body"].splitlines()[1]
    assert page_line == (
        f"- {page.updated_at:%Y-%m-%d %H:%M} UTC - the candidate changed their preferences on the preference page: "
        "channels: WhatsApp, then e-mail; interview scheduling: e-mail; no SMS; quiet hours 21:00-08:00 "
        "(Europe/Amsterdam); language nl"
    )
    reply_line = notes[1]["body"].splitlines()[1]
    assert "by reply" in reply_line and "only essential messages until" in reply_line and "no voicemail" in reply_line
    assert "@" not in "".join(n["body"] for n in notes), "no contact data in a note"
    # The two redeliveries count once or twice (once when they share a batch); either way nothing was written twice.
    duplicates = next(
        line
        for line in metrics.splitlines()
        if line.startswith('connector_notes_total{connection="greenhouse",outcome="duplicate"}')
    )
    assert duplicates.endswith((" 1.0", " 2.0")), duplicates
    dead = [
        line
        for line in metrics.splitlines()
        if line.startswith("dlq_records_total{") and "preferences.changed" in line and not line.endswith(" 0.0")
    ]
    assert len(dead) == 1 and 'kind="invalid_key"' in dead[0] and dead[0].endswith(" 1.0"), dead


async def _with(state: EmulatorState, text: str) -> bool:
    return any(text in n["body"] for n in state.notes)


def test_no_note_without_a_candidate_source() -> None:
    """The pure part: the text lists versions oldest first, and says nothing about addresses."""
    later = snapshot(CANDIDATE, 7, ChangeSource.REPLY)
    earlier = snapshot(CANDIDATE, 6, ChangeSource.SELF_SERVICE)
    text = preference_note_text([later, earlier])
    lines = text.splitlines()
    assert lines[0] == "Candidate communication (candidate-comms)"
    assert "on the preference page" in lines[1] and "by reply" in lines[2]
    assert str(uuid.UUID(int=0)) not in text


def test_which_sources_and_how_old_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The defaults: the candidate's own changes of the last 7 days; both are CONNECTORS_ settings."""
    defaults = ConnectorSettings()
    now = NOW + timedelta(hours=1)

    def noted(s: ConnectorSettings, source: ChangeSource, age: timedelta) -> bool:
        version = snapshot(CANDIDATE, 1, source, at=now - age - timedelta(minutes=1))
        return worth_a_note(version, now, s.preference_note_sources, timedelta(days=s.preference_note_max_age_days))

    assert noted(defaults, ChangeSource.SELF_SERVICE, timedelta(days=6)) and noted(defaults, ChangeSource.REPLY, ZERO)
    assert not noted(defaults, ChangeSource.SELF_SERVICE, timedelta(days=8))
    assert not noted(defaults, ChangeSource.RECRUITER, ZERO) and not noted(defaults, ChangeSource.ATS_IMPORT, ZERO)
    monkeypatch.setenv("CONNECTORS_PREFERENCE_NOTE_SOURCES", '["recruiter", "reply"]')
    monkeypatch.setenv("CONNECTORS_PREFERENCE_NOTE_MAX_AGE_DAYS", "30")
    configured = ConnectorSettings()
    assert noted(configured, ChangeSource.RECRUITER, timedelta(days=20))
    assert not noted(configured, ChangeSource.SELF_SERVICE, ZERO)
    recruiter = snapshot(CANDIDATE, 3, ChangeSource.RECRUITER)
    assert "a recruiter changed the candidate's preferences: channels:" in preference_note_text([recruiter])


ZERO = timedelta(0)
