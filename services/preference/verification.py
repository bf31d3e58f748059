"""Adding or correcting a contact point from the self-service page, proven by a one-time code. Pure.

Double opt-in: the candidate names a mobile number (for SMS, WhatsApp, calls) or an e-mail address,
a short-lived code goes to it, and only the code entered back makes it a contact point. Then it is
valid and verified, consent for the channels the candidate ticked is granted with the verification as
evidence, and a later ATS import that carries another number cannot replace it (see domain).
Only a keyed hash of the code is ever stored; the code itself lives in one request's memory.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError

from schemas.common import ChangeSource, Channel
from schemas.preferences import ContactPoint, ContactUpdate, PreferenceSnapshot, Provenance
from services.preference.domain import Proposed, propose
from services.preference.selfservice import APP, FormError, record_consent

ContactKind = Literal["phone", "email"]
KIND_CHANNELS: dict[ContactKind, tuple[Channel, ...]] = {
    "phone": (Channel.SMS, Channel.WHATSAPP, Channel.VOICE),
    "email": (Channel.EMAIL,),
}
CODE_DIGITS = 6
EVIDENCE = "contact verified by a one-time code on the self-service page (double opt-in)"
_SEPARATORS = re.compile(r"[\s().\-/]")
_CODE = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class ContactRequest:
    """What the candidate asked for: a contact point, the channels to use it for, and one to put first."""

    kind: ContactKind
    address: str
    channels: tuple[Channel, ...]
    first: Channel | None


@dataclass(frozen=True)
class Challenge:
    """A pending verification: where the code went and what it unlocks; the code only as a keyed hash."""

    id: str
    candidate_id: str
    request: ContactRequest
    code_hash: str
    created_at: datetime
    expires_at: datetime


def new_code() -> str:
    """A uniformly random 6-digit code (leading zeros kept)."""
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(secret: bytes, challenge_id: str, code: str) -> str:
    """Keyed hash of a code, bound to its challenge (a stolen table reveals nothing without the key)."""
    return hmac.new(secret, f"verification-code:{challenge_id}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(secret: bytes, challenge: Challenge, entered: str) -> bool:
    """Whether the entered code is the one sent (constant time; spaces the candidate typed are ignored)."""
    code = _SEPARATORS.sub("", entered)
    if not _CODE.match(code):
        return False
    return hmac.compare_digest(code_hash(secret, challenge.id, code), challenge.code_hash)


def normalised_phone(raw: str) -> str:
    """A number as typed (spaces, dashes, 00 or a Dutch 06) in E.164; unchanged when it has no known shape."""
    number = _SEPARATORS.sub("", raw)
    if number.startswith("00"):
        return "+" + number[2:]
    if re.fullmatch(r"0[1-9]\d{8}", number):  # a Dutch national number: the page is Dutch first
        return "+31" + number[1:]
    return number


def read_contact_request(kind: str, raw: str, use: Sequence[str], first: str) -> ContactRequest:
    """The request a contact form makes; FormError when the address, the channels or the first choice is wrong."""
    if kind not in KIND_CHANNELS:
        raise FormError("err_field")
    contact_kind: ContactKind = "phone" if kind == "phone" else "email"
    raw = raw.strip()
    if not raw or len(raw) > 254:
        raise FormError(f"err_{contact_kind}")
    address = normalised_phone(raw) if contact_kind == "phone" else raw
    try:
        checked = ContactUpdate.model_validate({contact_kind: address})
    except ValidationError:
        raise FormError(f"err_{contact_kind}") from None
    allowed = KIND_CHANNELS[contact_kind]
    chosen = tuple(c for c in allowed if c.value in use)
    if len(allowed) == 1:
        chosen = allowed  # an e-mail address is for e-mail
    if not chosen:
        raise FormError("err_use_none")
    if first and first not in {c.value for c in chosen}:
        raise FormError("err_first")
    return ContactRequest(contact_kind, str(getattr(checked, contact_kind)), chosen, Channel(first) if first else None)


def masked(address: str) -> str:
    """How the page shows where a code went: enough to recognise, not to copy (+31 6 ••• 45 78)."""
    if "@" in address:
        local, _, domain = address.partition("@")
        return f"{local[:2]}•••@{domain}"
    return f"{address[:3]} ••• {address[-4:-2]} {address[-2:]}"


def verified(current: PreferenceSnapshot, request: ContactRequest, now: datetime) -> Proposed | None:
    """The version a correct code makes: the contact point verified, consent granted, maybe first in the order."""
    point = ContactPoint(address=request.address, verified_at=now)
    update: dict[str, Any] = {request.kind: point}
    whatsapp = current.contacts.whatsapp
    if request.kind == "phone" and whatsapp is not None and whatsapp.address != request.address:
        # WhatsApp had a number of its own: the candidate chose it here, or it falls back to this one.
        update["whatsapp"] = point if Channel.WHATSAPP in request.channels else whatsapp
    s = current.model_copy(update={"contacts": current.contacts.model_copy(update=update)})
    for channel in request.channels:
        s = record_consent(s, channel, APP, "granted", EVIDENCE, now)
    order = s.channel_order
    if request.first is not None:
        order = (request.first, *(c for c in order if c is not request.first))
    stamp = Provenance(source=ChangeSource.SELF_SERVICE, at=now, evidence=EVIDENCE)
    provenance = {**s.provenance, f"contact:{request.kind}": stamp}
    if order != current.channel_order:
        provenance["channel_order"] = stamp
    fields = s.model_dump(exclude={"version", "updated_at", "last_change_source"})
    fields.update(channel_order=order, provenance=provenance)
    used = ", ".join(c.value for c in request.channels)
    summary = f"{request.kind} verified by a one-time code on the self-service page; consent granted for {used}"
    return propose(current, fields, ChangeSource.SELF_SERVICE, now, summary)
