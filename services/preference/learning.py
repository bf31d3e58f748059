"""What replies and delivery outcomes teach: intents applied as one change, and learned affinity.

Affinity is an exponentially decayed response rate per channel. It lives apart from explicit choices
and the router uses it only to rank channels the candidate left open.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from schemas.common import ChangeSource, Channel, ConsentState, NotificationStatus, PurposeClass
from schemas.preferences import Affinity, ChannelConsent, ConsentRecord, PreferenceSnapshot, Provenance
from services.preference.domain import Proposed, propose
from services.preference.replies import Intent, Kind

ALPHA = 0.3  # weight of the newest observation
SIGNAL = {NotificationStatus.REPLIED: 1.0, NotificationStatus.READ: 0.5, NotificationStatus.NEEDS_RECRUITER: 0.0}
_INTRUSIVE = (Channel.SMS, Channel.WHATSAPP, Channel.VOICE)


def learn(current: PreferenceSnapshot, channel: Channel, status: NotificationStatus, now: datetime) -> Proposed | None:
    """Move a channel's affinity towards what the candidate just did (or did not do)."""
    if status not in SIGNAL:
        return None
    old = current.affinity.get(channel, Affinity())
    score = round((1 - ALPHA) * old.score + ALPHA * SIGNAL[status], 4)
    affinity = {**current.affinity, channel: Affinity(score=score, samples=old.samples + 1, updated_at=now)}
    return propose(
        current, {"affinity": affinity}, ChangeSource.ENGAGEMENT, now, f"learned from {status.value} on {channel.value}"
    )


def _revoke(consent: dict[Channel, ChannelConsent], channel: Channel, now: datetime, text: str) -> None:
    record = ConsentRecord(state=ConsentState.REVOKED, source=ChangeSource.REPLY, at=now, evidence=text)
    consent[channel] = ChannelConsent(application=record, talent_pool=record)


def _grant(consent: dict[Channel, ChannelConsent], channel: Channel, now: datetime, text: str) -> None:
    record = ConsentRecord(state=ConsentState.GRANTED, source=ChangeSource.REPLY, at=now, evidence=text)
    consent[channel] = (consent.get(channel) or ChannelConsent()).model_copy(update={"application": record})


def apply_intents(
    current: PreferenceSnapshot, intents: list[Intent], channel: Channel, text: str, now: datetime
) -> Proposed | None:
    """Everything a reply asks for, as one new version with the reply as evidence."""
    evidence = text.strip()[:500]
    consent = dict(current.consent)
    order = list(current.channel_order)
    updates: dict[str, Any] = {}
    stamp = Provenance(source=ChangeSource.REPLY, at=now, evidence=evidence)
    for intent in intents:
        target = intent.channel or channel
        if intent.kind is Kind.STOP or intent.kind is Kind.AVOID:
            _revoke(consent, target, now, evidence)
            if intent.kind is Kind.AVOID and target in order and len(order) > 1:
                order.remove(target)
        elif intent.kind is Kind.START:
            _grant(consent, target, now, evidence)
        elif intent.kind is Kind.PREFER:
            _grant(consent, target, now, evidence)
            order = [target, *(c for c in order if c != target)]
            if intent.only:
                order = [target]
                for other in _INTRUSIVE:
                    if (
                        other != target
                        and current.consent_for(other, PurposeClass.APPLICATION).state is not ConsentState.REVOKED
                    ):
                        _revoke(consent, other, now, evidence)
        elif intent.kind is Kind.NO_VOICEMAIL:
            updates["voicemail"] = False
            updates.setdefault("provenance", dict(current.provenance))["voicemail"] = stamp
    updates["consent"] = consent
    if tuple(order) != current.channel_order:
        updates["channel_order"] = tuple(order)
        updates.setdefault("provenance", dict(current.provenance))["channel_order"] = stamp
    kinds = ", ".join(sorted({i.kind.value for i in intents}))
    return propose(current, updates, ChangeSource.REPLY, now, f"reply on {channel.value}: {kinds}")
