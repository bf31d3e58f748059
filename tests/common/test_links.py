"""Self-service tokens: exactly one spelling verifies; every other spelling of the same token is refused."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from services.common.links import InvalidToken, sign, verify

SECRET = b"test-link-secret"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
candidate_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}", fullmatch=True) | st.text(min_size=1, max_size=128)
lifetimes = st.integers(min_value=1, max_value=400 * 86_400)
# Characters that some decoder somewhere drops, folds or reads as a digit.
NOISE = [" ", "\t", "\n", "+", "-", "0", "=", "٠", "０", "\u200b", "%30", "_"]


def _parts(token: str) -> tuple[str, str, str]:
    cid, expiry, sig = token.split(".")
    return cid, expiry, sig


def respellings(token: str) -> list[str]:
    """Spellings that lenient parsing (int(), base64 decoders, URL decoding) reads as the same token."""
    cid, expiry, sig = _parts(token)
    arabic = expiry.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    fullwidth = expiry.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    padded_cid = cid + "=" * (-len(cid) % 4)
    padded_sig = sig + "="
    standard_sig = sig.replace("-", "+").replace("_", "/")
    standard_cid = cid.replace("-", "+").replace("_", "/")
    spellings = [
        f"{cid}.0{expiry}.{sig}",
        f"{cid}.00{expiry}.{sig}",
        f"{cid}.+{expiry}.{sig}",
        f"{cid}. {expiry}.{sig}",
        f"{cid}.{expiry} .{sig}",
        f"{cid}.{expiry[:1]}_{expiry[1:]}.{sig}",
        f"{cid}.{arabic}.{sig}",
        f"{cid}.{fullwidth}.{sig}",
        f"{padded_cid}.{expiry}.{sig}",
        f"{cid}.{expiry}.{padded_sig}",
        f"{cid}.{expiry}.{standard_sig}",
        f"{standard_cid}.{expiry}.{sig}",
        f" {token}",
        f"{token}\n",
        f"{token}.",
        f"{cid}.{expiry}.{sig[:-1]}{_flip_spare_bits(sig[-1], spare=2)}",
        f"{cid[:-1]}{_flip_spare_bits(cid[-1], spare=_spare_bits(cid))}.{expiry}.{sig}",
    ]
    return [s for s in spellings if s != token]


def _spare_bits(part: str) -> int:
    """Unused low bits of the last base64 character (0, 2 or 4)."""
    return {0: 0, 2: 4, 3: 2}[len(part) % 4]


def _flip_spare_bits(char: str, spare: int) -> str:
    """The base64 character that differs only in bits the decoder throws away (itself when there are none)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return alphabet[alphabet.index(char) ^ 1] if spare else char


def test_the_signed_spelling_verifies_and_names_the_candidate() -> None:
    token = sign(SECRET, "cand-1", NOW + timedelta(days=30))
    assert verify(SECRET, token, NOW) == "cand-1"
    with pytest.raises(InvalidToken, match="expired"):
        verify(SECRET, token, NOW + timedelta(days=31))
    with pytest.raises(InvalidToken, match="bad signature"):
        verify(b"another secret", token, NOW)


@pytest.mark.parametrize("prefix", ["0", "00", "+"])
def test_the_reported_expiry_spellings_are_refused(prefix: str) -> None:
    cid, expiry, sig = _parts(sign(SECRET, "cand-1", NOW + timedelta(days=30)))
    with pytest.raises(InvalidToken, match="malformed"):
        verify(SECRET, f"{cid}.{prefix}{expiry}.{sig}", NOW)


def test_the_spare_bits_really_decode_to_the_same_bytes() -> None:
    """The spare-bit re-spellings are the same value to a decoder: the refusal is ours, not base64's."""
    cid, _, sig = _parts(sign(SECRET, "c", NOW + timedelta(days=1)))  # one byte: 4 spare bits
    other = cid[:-1] + _flip_spare_bits(cid[-1], _spare_bits(cid))
    assert other != cid
    assert base64.urlsafe_b64decode(other + "==") == base64.urlsafe_b64decode(cid + "==") == b"c"
    flipped = sig[:-1] + _flip_spare_bits(sig[-1], 2)
    assert base64.urlsafe_b64decode(flipped + "=") == base64.urlsafe_b64decode(sig + "=")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(candidate_id=candidate_ids, lifetime=lifetimes)
@example(candidate_id="cand-1", lifetime=86_400)
@example(candidate_id="jörg-例え", lifetime=1)
def test_any_respelling_of_a_valid_token_fails(candidate_id: str, lifetime: int) -> None:
    token = sign(SECRET, candidate_id, NOW + timedelta(seconds=lifetime))
    assert verify(SECRET, token, NOW) == candidate_id
    for spelling in respellings(token):
        with pytest.raises(InvalidToken):
            verify(SECRET, spelling, NOW)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    candidate_id=candidate_ids,
    lifetime=lifetimes,
    position=st.integers(min_value=0),
    noise=st.sampled_from(NOISE) | st.text(min_size=1, max_size=3),
    replace=st.booleans(),
)
def test_any_edit_of_a_valid_token_fails_cleanly(
    candidate_id: str, lifetime: int, position: int, noise: str, replace: bool
) -> None:
    """Inserting or replacing characters anywhere never verifies and never raises anything but InvalidToken."""
    token = sign(SECRET, candidate_id, NOW + timedelta(seconds=lifetime))
    at = position % (len(token) + 1)
    edited = token[:at] + noise + token[at + (1 if replace else 0) :]
    if edited == token:
        return
    with pytest.raises(InvalidToken):
        verify(SECRET, edited, NOW)
