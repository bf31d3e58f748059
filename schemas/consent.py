"""The consent rules of DESIGN 5b, shared by the router (deciding) and the notifier (last-mile check).

Consent is packed as 2 bits per (channel, purpose class) so in-memory views stay small.
"""

from __future__ import annotations

from schemas.common import Channel, ConsentState, PurposeClass
from schemas.preferences import PreferenceSnapshot

CHANNELS: tuple[Channel, ...] = tuple(Channel)
CHANNEL_INDEX: dict[Channel, int] = {c: i for i, c in enumerate(CHANNELS)}
PURPOSES: tuple[PurposeClass, ...] = (PurposeClass.APPLICATION, PurposeClass.TALENT_POOL)
_CODE = {ConsentState.UNKNOWN: 0, ConsentState.GRANTED: 1, ConsentState.REVOKED: 2}
_STATE = {v: k for k, v in _CODE.items()}
# Channels that need explicit consent even for the candidate's own application.
NEEDS_GRANT = frozenset({Channel.SMS, Channel.WHATSAPP, Channel.VOICE})
CHANNEL_NAME = {
    Channel.EMAIL: "e-mail",
    Channel.SMS: "SMS",
    Channel.WHATSAPP: "WhatsApp",
    Channel.VOICE: "phone call",
    Channel.PORTAL: "portal",
}


def _shift(channel: Channel, purpose: PurposeClass) -> int:
    return (CHANNEL_INDEX[channel] * 2 + PURPOSES.index(purpose)) * 2


def encode_consent(s: PreferenceSnapshot) -> int:
    """All consent states of a snapshot in one int."""
    bits = 0
    for channel in CHANNELS:
        for purpose in PURPOSES:
            bits |= _CODE[s.consent_for(channel, purpose).state] << _shift(channel, purpose)
    return bits


def consent_state(bits: int, channel: Channel, purpose: PurposeClass) -> ConsentState:
    """One state out of the packed bits."""
    return _STATE[(bits >> _shift(channel, purpose)) & 3]


def consent_block(bits: int, channel: Channel, purpose: PurposeClass) -> str | None:
    """Why consent forbids this channel for this purpose, or None when it allows it.

    Revocation always blocks the channel, for every purpose. Own-application messages may use e-mail
    and the portal while consent is unknown; SMS, WhatsApp and calls need it granted. Talent-pool
    messages need it granted on every channel.
    """
    name = CHANNEL_NAME[channel]
    if consent_state(bits, channel, PurposeClass.APPLICATION) is ConsentState.REVOKED:
        return f"{name} skipped: the candidate revoked consent"
    state = consent_state(bits, channel, purpose)
    if state is ConsentState.REVOKED:
        return f"{name} skipped: the candidate opted out of talent-pool messages on this channel"
    if state is ConsentState.UNKNOWN:
        if purpose is PurposeClass.TALENT_POOL:
            return f"{name} skipped: no consent for talent-pool messages"
        if channel in NEEDS_GRANT:
            return f"{name} skipped: no consent for {name} yet"
    return None


def valid_contact_bits(s: PreferenceSnapshot) -> int:
    """1 bit per channel: a valid contact point exists."""
    bits = 0
    for i, channel in enumerate(CHANNELS):
        point = s.contacts.for_channel(channel)
        if point is not None and point.valid:
            bits |= 1 << i
    return bits
