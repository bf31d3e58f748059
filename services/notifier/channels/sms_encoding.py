"""How many SMS a text costs: GSM-7 or UCS-2, and the number of segments.

One GSM-7 SMS holds 160 septets, one UCS-2 SMS 70 UTF-16 code units. A longer text is sent as
concatenated segments whose user-data header leaves 153 septets or 67 code units each. Characters
of the GSM-7 extension table (€, [, ], {, }, ...) take two septets (an escape plus the character),
characters outside the Basic Multilingual Plane (most emoji) take two UTF-16 code units, and
neither pair is ever split across two segments. One character outside GSM-7 (ë, ï, ’, an emoji)
turns the whole message into UCS-2, which is why Dutch text with a diaeresis costs more.
"""

from __future__ import annotations

from dataclasses import dataclass

# GSM 03.38 default alphabet (without the escape code 0x1B) and its extension table.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7, UCS2 = "GSM-7", "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SmsSize:
    """The encoding of a text, its length in that encoding's units, and the segments it needs."""

    encoding: str
    units: int
    segments: int


def is_gsm7(text: str) -> bool:
    """True when every character has a GSM-7 code (basic or extension table)."""
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _units(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(units: list[int], capacity: int) -> int:
    segments, used = 1, 0
    for size in units:
        if used + size > capacity:  # a two-unit character moves whole to the next segment
            segments, used = segments + 1, 0
        used += size
    return segments


def sms_size(text: str) -> SmsSize:
    """Encoding, length and segment count of `text` as one (possibly concatenated) SMS."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    units = _units(text, encoding)
    total = sum(units)
    single, concatenated = _LIMITS[encoding]
    if total == 0:
        return SmsSize(encoding, 0, 0)
    if total <= single:
        return SmsSize(encoding, total, 1)
    return SmsSize(encoding, total, _pack(units, concatenated))
