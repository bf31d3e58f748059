"""Which channel, and why: eligibility (consent, contact points) and ranking (choices, order, affinity)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from schemas.common import ChangeSource, Channel, PurposeClass, Stage
from schemas.consent import CHANNEL_NAME, CHANNELS, consent_block
from services.router.prefs import Choice, RoutingPrefs

_CONTACT_NAME = {
    Channel.EMAIL: "e-mail address",
    Channel.SMS: "mobile number",
    Channel.WHATSAPP: "WhatsApp number",
    Channel.VOICE: "phone number",
    Channel.PORTAL: "portal account",
}
_SOURCE_PHRASE = {
    ChangeSource.SELF_SERVICE: "on the self-service page",
    ChangeSource.REPLY: "by reply",
    ChangeSource.RECRUITER: "through the recruiter",
    ChangeSource.ATS_IMPORT: "in the ATS",
    ChangeSource.ENGAGEMENT: "as learned from responses",
    ChangeSource.DELIVERY: "after a delivery problem",
    ChangeSource.SYSTEM: "by the system",
}


def stage_name(stage: Stage) -> str:
    """'interview_scheduling' -> 'interview scheduling'."""
    return stage.value.replace("_", " ")


def _when(choice: Choice | None) -> str:
    if choice is None:
        return ""
    return f" on {choice.day.isoformat()} {_SOURCE_PHRASE[choice.source]}"


def ineligible_reason(prefs: RoutingPrefs, channel: Channel, purpose: PurposeClass) -> str | None:
    """Why a channel may not be used for this purpose, or None when it may."""
    blocked = consent_block(prefs.consent_bits, channel, purpose)
    if blocked is not None:
        return blocked
    if not prefs.has_contact(channel):
        return f"{CHANNEL_NAME[channel]} skipped: no valid {_CONTACT_NAME[channel]}"
    return None


def ranked(prefs: RoutingPrefs, stage: Stage, default_order: tuple[Channel, ...]) -> list[tuple[Channel, str]]:
    """Every channel in order of preference, each with the reason it sits there."""
    out: list[tuple[Channel, str]] = []
    seen: set[Channel] = set()

    def add(channel: Channel, reason: str) -> None:
        if channel not in seen:
            seen.add(channel)
            out.append((channel, reason))

    override = prefs.override(stage)
    if override is not None:
        order, choice = override
        for ch in order:
            add(
                ch, f"{CHANNEL_NAME[ch]}: the candidate chose {CHANNEL_NAME[ch]} for {stage_name(stage)}{_when(choice)}"
            )
    affinity = prefs.affinity
    if prefs.order_choice is not None:
        for i, ch in enumerate(prefs.order, 1):
            add(ch, f"{CHANNEL_NAME[ch]}: number {i} in the candidate's order{_when(prefs.order_choice)}")
    elif affinity is None:
        for ch in prefs.order:
            add(ch, f"{CHANNEL_NAME[ch]}: the default channel; the candidate has not chosen one yet")
    rest = [c for c in (*prefs.order, *default_order, *CHANNELS) if c not in seen]
    if affinity is not None:
        # Learned affinity only ranks what the candidate left open; ties keep the default order.
        rest.sort(key=lambda c: -affinity[CHANNELS.index(c)])
        for ch in rest:
            score = affinity[CHANNELS.index(ch)]
            add(ch, f"{CHANNEL_NAME[ch]}: learned from responses (response rate {score:.0%})")
    for ch in rest:
        add(ch, f"{CHANNEL_NAME[ch]}: next channel that can reach the candidate")
    return out


@dataclass(frozen=True)
class ChannelChoice:
    """The chosen channel (None: none is eligible) and the reasons, skipped channels included."""

    channel: Channel | None
    reasons: tuple[str, ...]
    # The candidate's own first choice, when it could not carry this message (consent and contact allowed it).
    not_honoured: Channel | None = None


Capability = Callable[[Channel], str | None]  # why a channel cannot carry this message, or None


def choose(
    prefs: RoutingPrefs,
    stage: Stage,
    purpose: PurposeClass,
    default_order: tuple[Channel, ...],
    exclude: frozenset[Channel] = frozenset(),
    unable: Capability = lambda _: None,
) -> ChannelChoice:
    """The first eligible channel in the candidate's order for this stage and purpose that can carry the message."""
    reasons: list[str] = []
    not_honoured: Channel | None = None
    explicit = prefs.override(stage) is not None or prefs.order_choice is not None
    for rank, (channel, why) in enumerate(c for c in ranked(prefs, stage, default_order) if c[0] not in exclude):
        blocked = ineligible_reason(prefs, channel, purpose)
        gap = unable(channel) if blocked is None else None
        if blocked is None and gap is None:
            return ChannelChoice(channel, (*reasons, why), not_honoured)
        if gap is not None and rank == 0 and explicit:
            not_honoured = channel
        reasons.append(blocked or gap or "")
    return ChannelChoice(
        None, (*reasons, "no channel left that the candidate consented to and that can reach them"), not_honoured
    )
