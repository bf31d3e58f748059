"""The notifier's compact view of a candidate: where to send and whether consent still allows it."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.common import ChangeSource, Channel, PurposeClass
from schemas.consent import (
    CHANNEL_INDEX,
    CHANNEL_NAME,
    CHANNELS,
    PURPOSES,
    consent_block,
    encode_consent,
    valid_contact_bits,
)
from schemas.preferences import PreferenceSnapshot

SOURCES: tuple[ChangeSource, ...] = tuple(ChangeSource)
if len(SOURCES) > 7:  # codes 1..7 fit the 3 bits per record of consent_sources
    raise RuntimeError("consent_sources needs a wider field for this many change sources")
# Few distinct orders exist; sharing one tuple per order keeps the view's memory flat.
_ORDERS: dict[tuple[Channel, ...], tuple[Channel, ...]] = {}


@dataclass(frozen=True, slots=True)
class Reach:
    """Addresses, validity, consent and language of one candidate."""

    version: int
    consent_bits: int
    valid_bits: int
    email: str | None
    phone: str | None
    whatsapp: str | None
    portal: str | None
    name: str | None
    language: str
    voicemail: bool
    channel_order: tuple[Channel, ...] = (Channel.EMAIL,)
    consent_sources: int = 0  # who recorded each consent state, 3 bits per channel and purpose (recruiter timeline)

    def address(self, channel: Channel) -> str | None:
        """The address a channel sends to."""
        if channel is Channel.EMAIL:
            return self.email
        if channel in (Channel.SMS, Channel.VOICE):
            return self.phone
        if channel is Channel.WHATSAPP:
            return self.whatsapp or self.phone
        return self.portal


def reach_of(s: PreferenceSnapshot) -> Reach:
    """Reduce a snapshot to what delivery needs."""
    c = s.contacts
    return Reach(
        version=s.version,
        consent_bits=encode_consent(s),
        valid_bits=valid_contact_bits(s),
        email=c.email.address if c.email else None,
        phone=c.phone.address if c.phone else None,
        whatsapp=c.whatsapp.address if c.whatsapp else None,
        portal=c.portal.address if c.portal else None,
        name=s.name,
        language=s.language,
        voicemail=s.voicemail,
        channel_order=_ORDERS.setdefault(s.channel_order, s.channel_order),
        consent_sources=encode_sources(s),
    )


def encode_sources(s: PreferenceSnapshot) -> int:
    """The source of every consent record in one int (0: never recorded)."""
    bits = 0
    for i, (channel, purpose) in enumerate((c, p) for c in CHANNELS for p in PURPOSES):
        source = s.consent_for(channel, purpose).source
        if source is not None:
            bits |= (SOURCES.index(source) + 1) << (3 * i)
    return bits


def consent_source(bits: int, channel: Channel, purpose: PurposeClass) -> ChangeSource | None:
    """Who recorded the consent state of one channel and purpose, if anyone."""
    code = bits >> (3 * (CHANNELS.index(channel) * len(PURPOSES) + PURPOSES.index(purpose))) & 7
    return SOURCES[code - 1] if code else None


def last_mile_block(reach: Reach, channel: Channel, purpose: PurposeClass) -> str | None:
    """Why this send must not happen now (consent or contact point), or None."""
    blocked = consent_block(reach.consent_bits, channel, purpose)
    if blocked is not None:
        return f"blocked at send time: {blocked}"
    if not reach.valid_bits >> CHANNEL_INDEX[channel] & 1:
        return f"blocked at send time: no valid address for {CHANNEL_NAME[channel]}"
    return None
