"""Write-back of the candidate's own preference changes: a note on the candidate in their ATS.

notifications.status has no state for "the candidate changed how they want to hear from us", so this reads
preferences.changed (compacted, keyed by our candidate id, a full snapshot per version). A version whose
change source is one of settings.preference_note_sources (default: the candidate's own, on the self-service
page or by reply) becomes a line of a note, only for candidates a webhook linked to an ATS connection, never
twice for the same (candidate, version) (key "preferences:<candidate>:<version>" in connector_notes). By
default versions made by the ATS, a recruiter or the system get none (they know); erasures never do
(tombstones under a readable key, skipped before decoding; one without is dead-lettered), nor versions
older than settings.preference_note_max_age_days (a first start reads the compacted topic from its
beginning: that is history, not news). One note per candidate per batch, paced, retried and recorded on
failure as the status notes are (writeback.py). The note says what the candidate chose now, without contact
data (the snapshot's addresses never leave it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Sequence
from datetime import datetime, timedelta

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass
from schemas.envelope import DecodeError
from schemas.preferences import PreferencesChangedEvent, PreferenceSnapshot
from services.common.kafka import DeadLetters, Record
from services.common.snapshots import INVALID_KEY
from services.connectors.notes import HEADER
from services.connectors.writeback import NoteWriter

log = logging.getLogger(__name__)
_CHANNELS = {"email": "e-mail", "sms": "SMS", "whatsapp": "WhatsApp", "voice": "phone", "portal": "the portal"}
_SOURCES = {
    ChangeSource.SELF_SERVICE: "the candidate changed their preferences on the preference page",
    ChangeSource.REPLY: "the candidate changed their preferences by reply",
    ChangeSource.RECRUITER: "a recruiter changed the candidate's preferences",
    ChangeSource.ATS_IMPORT: "the candidate's preferences were imported from the ATS",
    ChangeSource.ENGAGEMENT: "the candidate's preferences were learned from how they answer",
    ChangeSource.DELIVERY: "the candidate's preferences changed after a delivery failed",
    ChangeSource.SYSTEM: "the candidate's preferences were changed by the system",
}


def is_erasure(record: Record) -> bool:
    """A tombstone under a readable key: an erasure, nothing to tell the ATS (one without a readable key is garbage)."""
    if record.value is not None or not record.key:
        return False
    try:
        record.key.decode()
    except UnicodeDecodeError:
        return False
    return True


def preference_note_key(snapshot: PreferenceSnapshot) -> str:
    """The idempotency key of one version's line: one note per candidate and version, ever."""
    return f"preferences:{snapshot.candidate_id}:{snapshot.version}"


def worth_a_note(
    snapshot: PreferenceSnapshot, now: datetime, sources: Collection[ChangeSource], max_age: timedelta
) -> bool:
    """A version from one of these sources, recent enough to be news."""
    return snapshot.last_change_source in sources and now - snapshot.updated_at <= max_age


def _channels(order: Sequence[Channel]) -> str:
    return ", then ".join(_CHANNELS.get(c.value, c.value) for c in order)


def preference_line(s: PreferenceSnapshot) -> str:
    """What the candidate chose, as of one version (no addresses, no reply text)."""
    parts = [f"channels: {_channels(s.channel_order)}"]
    parts += [
        f"{stage.value.replace('_', ' ')}: {_channels(order)}" for stage, order in sorted(s.stage_overrides.items())
    ]
    revoked = [c for c in Channel if s.consent_for(c, PurposeClass.APPLICATION).state is ConsentState.REVOKED]
    if revoked:
        parts.append("no " + ", no ".join(_CHANNELS.get(c.value, c.value) for c in revoked))
    if s.paused_until is not None and s.paused_until > s.updated_at:
        parts.append(f"only essential messages until {s.paused_until:%Y-%m-%d %H:%M} UTC")
    parts.append(f"quiet hours {s.quiet_hours.start:%H:%M}-{s.quiet_hours.end:%H:%M} ({s.timezone})")
    if not s.voicemail:
        parts.append("no voicemail")
    parts.append(f"language {s.language}")
    when = f"{s.updated_at:%Y-%m-%d %H:%M} UTC"
    return f"{when} - {_SOURCES[s.last_change_source]}: " + "; ".join(parts)


def preference_note_text(snapshots: Sequence[PreferenceSnapshot]) -> str:
    """The note for one candidate: a header and a line per version, oldest first."""
    ordered = sorted(snapshots, key=lambda s: s.version)
    return "\n".join([HEADER, *(f"- {preference_line(s)}" for s in ordered)])


class PreferenceNotes:
    """The consumer of preferences.changed in the connector service."""

    def __init__(
        self,
        notes: NoteWriter,
        dead_letters: DeadLetters,
        clock: Callable[[], datetime],
        *,
        sources: Collection[ChangeSource],
        max_age: timedelta,
    ) -> None:
        self._notes = notes
        self._dead_letters = dead_letters
        self._clock = clock
        self._sources = frozenset(sources)
        self._max_age = max_age

    async def on_preferences(self, batch: list[tuple[Record, PreferencesChangedEvent]]) -> None:
        """Write the notes one batch of preferences.changed asks for."""
        keyed = [(r, e) for r, e in batch if r.key == e.data.candidate_id.encode()]
        if len(keyed) < len(batch):  # under another candidate's key: a note on the wrong person must never be written
            error = DecodeError(INVALID_KEY, "the record key differs from the snapshot's candidate_id")
            await self._dead_letters.send_all([(r, error) for r, e in batch if r.key != e.data.candidate_id.encode()])
        now = self._clock()
        wanted = {
            preference_note_key(e.data): e.data
            for _, e in keyed
            if worth_a_note(e.data, now, self._sources, self._max_age)
        }
        await self._notes.write(wanted, _candidate, preference_note_text)


def _candidate(snapshot: PreferenceSnapshot) -> str:
    return snapshot.candidate_id
