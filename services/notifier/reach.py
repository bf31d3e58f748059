"""The notifier's compact view of a candidate: where to send and whether consent still allows it."""

from __future__ import annotations

from dataclasses import dataclass

from schemas.common import Channel, PurposeClass
from schemas.consent import CHANNEL_INDEX, CHANNEL_NAME, consent_block, encode_consent, valid_contact_bits
from schemas.preferences import PreferenceSnapshot


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
    )


def last_mile_block(reach: Reach, channel: Channel, purpose: PurposeClass) -> str | None:
    """Why this send must not happen now (consent or contact point), or None."""
    blocked = consent_block(reach.consent_bits, channel, purpose)
    if blocked is not None:
        return f"blocked at send time: {blocked}"
    if not reach.valid_bits >> CHANNEL_INDEX[channel] & 1:
        return f"blocked at send time: no valid address for {CHANNEL_NAME[channel]}"
    return None
