"""The router's compact view of one candidate's preferences: only what routing needs, shared parts interned.

A full PreferenceSnapshot costs several KB as pydantic objects; a million candidates must fit in RAM
(target < 1 KB each), so the view keeps small ints, bitmasks and interned tuples instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from schemas.common import ChangeSource, Channel, ConsentState, PurposeClass, Stage
from schemas.consent import CHANNEL_INDEX, CHANNELS, consent_state, encode_consent, valid_contact_bits
from schemas.preferences import PreferenceSnapshot


@dataclass(frozen=True, slots=True)
class Choice:
    """Provenance of an explicit choice: who made it and on which day (for the plain-words reason)."""

    source: ChangeSource
    day: date


@dataclass(frozen=True, slots=True)
class RoutingPrefs:
    """Routing-relevant preferences of one candidate."""

    version: int
    order: tuple[Channel, ...]
    order_choice: Choice | None  # None: the default order, nothing chosen
    overrides: tuple[tuple[Stage, tuple[Channel, ...], Choice | None], ...]
    consent_bits: int  # 2 bits per (channel, purpose class): 0 unknown, 1 granted, 2 revoked
    valid_bits: int  # 1 bit per channel: a valid contact point exists
    language: str
    timezone: str
    quiet_start_min: int
    quiet_end_min: int
    cap_per_day: int  # 0: no cap
    cap_per_week: int
    paused_until: float  # POSIX seconds; 0: not paused
    voicemail: bool
    scheduling_mode: str
    documents_mode: str
    affinity: tuple[float, ...] | None  # per channel index; None: nothing learned
    call_times: str | None

    def consent(self, channel: Channel, purpose: PurposeClass) -> ConsentState:
        """Consent state of a channel for a purpose class."""
        return consent_state(self.consent_bits, channel, purpose)

    def has_contact(self, channel: Channel) -> bool:
        """A valid contact point exists for the channel."""
        return bool(self.valid_bits >> CHANNEL_INDEX[channel] & 1)

    def override(self, stage: Stage) -> tuple[tuple[Channel, ...], Choice | None] | None:
        """The candidate's order for one stage, if they set one."""
        for s, order, choice in self.overrides:
            if s is stage:
                return order, choice
        return None


T = TypeVar("T")
_interned: dict[object, object] = {}


def _intern(value: T) -> T:
    """Share equal immutable parts (orders, choices, time zones) between candidates."""
    return _interned.setdefault(value, value)  # type: ignore[return-value]


def _choice(snapshot: PreferenceSnapshot, key: str) -> Choice | None:
    p = snapshot.provenance.get(key)
    return _intern(Choice(p.source, p.at.date())) if p else None


def compact(s: PreferenceSnapshot) -> RoutingPrefs:
    """Reduce a snapshot to the routing view."""
    overrides = tuple(
        (stage, _intern(tuple(order)), _choice(s, f"stage:{stage.value}")) for stage, order in s.stage_overrides.items()
    )
    affinity = tuple(s.affinity[c].score if c in s.affinity else 0.0 for c in CHANNELS) if s.affinity else None
    q = s.quiet_hours
    return RoutingPrefs(
        version=s.version,
        order=_intern(tuple(s.channel_order)),
        order_choice=_choice(s, "channel_order"),
        overrides=_intern(overrides),
        consent_bits=encode_consent(s),
        valid_bits=valid_contact_bits(s),
        language=_intern(s.language),
        timezone=_intern(s.timezone),
        quiet_start_min=q.start.hour * 60 + q.start.minute,
        quiet_end_min=q.end.hour * 60 + q.end.minute,
        cap_per_day=s.frequency_cap.per_day or 0,
        cap_per_week=s.frequency_cap.per_week or 0,
        paused_until=s.paused_until.timestamp() if s.paused_until else 0.0,
        voicemail=s.voicemail,
        scheduling_mode=_intern(s.interview_scheduling_mode),
        documents_mode=_intern(s.documents_mode),
        affinity=affinity,
        call_times=s.preferred_call_times,
    )
