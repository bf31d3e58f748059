"""SMS size: GSM-7 or UCS-2, and how many segments a text costs (160/153 septets, 70/67 code units)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notifier.channels.sms_encoding import GSM7, GSM7_BASIC, GSM7_EXTENSION, UCS2, SmsSize, is_gsm7, sms_size

EMOJI = "\N{GRINNING FACE}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", SmsSize(GSM7, 0, 0)),
        ("Hoi Sanne, je gesprek is dinsdag om 10:00.", SmsSize(GSM7, 42, 1)),
        ("@£$¥èéùìòÇØøÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉÄÖÑÜ§¿äöñüà\n\r", SmsSize(GSM7, 42, 1)),
        ("a" * 160, SmsSize(GSM7, 160, 1)),
        ("a" * 161, SmsSize(GSM7, 161, 2)),
        ("a" * 306, SmsSize(GSM7, 306, 2)),
        ("a" * 307, SmsSize(GSM7, 307, 3)),
        ("€", SmsSize(GSM7, 2, 1)),  # the euro sign is in the extension table: two septets
        ("[link] {x} ~ | ^ \\", SmsSize(GSM7, 26, 1)),  # 18 characters, 8 of them escaped
        ("€" * 80, SmsSize(GSM7, 160, 1)),
        ("€" * 81, SmsSize(GSM7, 162, 2)),  # 76 + 5: an escape pair never straddles a segment
        ("a" * 152 + "€" + "a" * 152, SmsSize(GSM7, 306, 3)),  # 152 | € + 151 | 1, not ceil(306 / 153) = 2
        ("ë", SmsSize(UCS2, 1, 1)),  # Dutch diaeresis: not in GSM-7
        ("Wij zijn geïnteresseerd in je ideeën", SmsSize(UCS2, 36, 1)),
        ("ë" * 70, SmsSize(UCS2, 70, 1)),
        ("ë" * 71, SmsSize(UCS2, 71, 2)),
        ("ë" * 134, SmsSize(UCS2, 134, 2)),
        ("ë" * 135, SmsSize(UCS2, 135, 3)),
        ("Tot dan’", SmsSize(UCS2, 8, 1)),  # a typographic apostrophe
        ("ça va", SmsSize(UCS2, 5, 1)),  # lowercase ç is not in the table (Ç is)
        ("`code`", SmsSize(UCS2, 6, 1)),
        (EMOJI, SmsSize(UCS2, 2, 1)),  # outside the BMP: a surrogate pair
        (EMOJI * 35, SmsSize(UCS2, 70, 1)),
        (EMOJI * 36, SmsSize(UCS2, 72, 2)),
        ("a" * 66 + EMOJI + "a" * 66, SmsSize(UCS2, 134, 3)),  # the pair moves whole to the next segment
        ("€" + EMOJI, SmsSize(UCS2, 3, 1)),  # in UCS-2 the euro sign is one code unit
    ],
)
def test_sms_size(text: str, expected: SmsSize) -> None:
    assert sms_size(text) == expected


def test_tables_have_the_standard_sizes() -> None:
    assert len(GSM7_BASIC) == 127  # 128 codes minus the escape
    assert len(GSM7_EXTENSION) == 10
    assert not GSM7_BASIC & GSM7_EXTENSION


@given(st.text(max_size=400))
def test_segments_hold_what_the_encoding_allows(text: str) -> None:
    size = sms_size(text)
    assert size.encoding == (GSM7 if is_gsm7(text) else UCS2)
    single, per_segment = (160, 153) if size.encoding == GSM7 else (70, 67)
    if size.units <= single:
        assert size.segments == (1 if text else 0)
    else:
        # At least what the units need, at most one extra segment per pair pushed over a boundary.
        assert -(-size.units // per_segment) <= size.segments <= -(-size.units // (per_segment - 1))
