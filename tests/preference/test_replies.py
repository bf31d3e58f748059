"""The reply parser against the committed nl/en corpus: 100% on every intent, no STOP in a negative."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from schemas.common import Channel
from services.preference.replies import Intent, Kind, parse

CORPUS: dict[str, Any] = json.loads((Path(__file__).parent / "reply_corpus.json").read_text())
# Offered slots, in Amsterdam: Mon 14:30, Tue 10:00, Wed 09:00.
SLOTS = (
    datetime(2026, 11, 30, 13, 30, tzinfo=UTC),
    datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
)


def test_every_intent_has_at_least_15_phrasings() -> None:
    for key in (
        "stop",
        "start",
        "prefer",
        "prefer_only",
        "avoid_voice",
        "no_voicemail",
        "slot",
        "unparsed",
        "negatives",
    ):
        assert len(CORPUS[key]) >= 15, key


@pytest.mark.parametrize("text", CORPUS["stop"])
def test_stop(text: str) -> None:
    assert parse(text) == [Intent(Kind.STOP)]


@pytest.mark.parametrize("text", CORPUS["start"])
def test_start(text: str) -> None:
    assert parse(text) == [Intent(Kind.START)]


@pytest.mark.parametrize(("text", "channel"), CORPUS["prefer"])
def test_prefer(text: str, channel: str) -> None:
    assert parse(text) == [Intent(Kind.PREFER, Channel(channel))]


@pytest.mark.parametrize(("text", "channel"), CORPUS["prefer_only"])
def test_prefer_only(text: str, channel: str) -> None:
    assert parse(text) == [Intent(Kind.PREFER, Channel(channel), only=True)]


@pytest.mark.parametrize("text", CORPUS["avoid_voice"])
def test_avoid_calls(text: str) -> None:
    assert parse(text) == [Intent(Kind.AVOID, Channel.VOICE)]


@pytest.mark.parametrize("text", CORPUS["no_voicemail"])
def test_no_voicemail(text: str) -> None:
    assert parse(text) == [Intent(Kind.NO_VOICEMAIL)]


@pytest.mark.parametrize(("text", "expected"), CORPUS["combined"])
def test_combined_statements(text: str, expected: list[list[str | None]]) -> None:
    assert parse(text) == [Intent(Kind(k), Channel(c) if c else None) for k, c in expected]


@pytest.mark.parametrize(("text", "option"), CORPUS["slot"])
def test_slot_choice(text: str, option: int) -> None:
    assert parse(text, SLOTS, "Europe/Amsterdam") == [Intent(Kind.SLOT, option=option)]


@pytest.mark.parametrize("text", CORPUS["unparsed"])
def test_anything_else_goes_to_a_recruiter(text: str) -> None:
    assert parse(text, SLOTS) == [Intent(Kind.UNPARSED)]


def test_negatives_never_opt_out_globally() -> None:
    wrong = [t for t in CORPUS["negatives"] if Intent(Kind.STOP) in parse(t)]
    assert wrong == [], f"precision on negatives must be 100%: {wrong}"
