"""What the page says about each channel it cannot honour right now, and what the candidate can do. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.common import Channel, ConsentState
from schemas.preferences import PreferenceSnapshot
from services.preference.selfservice import APP, available, whatsapp_limits

# The contact point a channel needs, as the contact page names it (None: not for the candidate to add).
CONTACT_KIND: dict[Channel, str | None] = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.VOICE: "phone",
    Channel.PORTAL: None,
}


@dataclass(frozen=True)
class ChannelNote:
    """One channel's line on the page: whether it can be ticked, why not, and the fix the page offers."""

    channel: str
    usable: bool
    note: str | None
    fix: str | None  # "phone" or "email": a link to add or correct that contact point


def channel_notes(
    s: PreferenceSnapshot, approved: Mapping[str, Iterable[str]], texts: Mapping[str, Any]
) -> list[ChannelNote]:
    """Every channel with what it needs: a missing or broken contact point, a template, or the candidate's yes."""
    notes = []
    for channel in Channel:
        kind = CONTACT_KIND[channel]
        point = s.contacts.for_channel(channel)
        note, fix = None, None
        if point is None:
            note, fix = texts["why_missing"][channel.value], kind
        elif not point.valid:
            note, fix = texts["why_invalid"][kind or "portal"], kind
        elif channel is Channel.WHATSAPP and (limits := whatsapp_limits(s, approved, texts)):
            note = limits
        elif s.consent_for(channel, APP).state is ConsentState.REVOKED:
            note = texts["why_revoked"]
        notes.append(ChannelNote(channel.value, available(s, channel), note, fix))
    return notes


def contact_lines(s: PreferenceSnapshot, texts: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The contact points the page shows the candidate: (label, address, state in words)."""
    lines = []
    for field in ("phone", "email", "whatsapp"):
        point = getattr(s.contacts, field)
        if point is None:
            continue
        if not point.valid:
            state = texts["contact_broken"]
        elif point.verified_at is not None:
            state = texts["contact_verified"].format(when=f"{point.verified_at:%d-%m-%Y}")
        else:
            state = texts["contact_from_ats"]
        lines.append((texts["contact_label"][field], point.address, state))
    return lines
