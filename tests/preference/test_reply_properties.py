"""Property tests of the reply parser (hypothesis): it never raises, a STOP is only ever the whole
message (the way carriers treat keywords), words from a negative sentence around a keyword never make
it a global opt-out, and the same reply always means the same thing."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.preference.replies import START_WORDS, STOP_WORDS, Intent, Kind, normalise, parse

CORPUS: dict[str, Any] = json.loads((Path(__file__).parent / "reply_corpus.json").read_text())
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STOP = [Intent(Kind.STOP)]

keywords = st.sampled_from(sorted(STOP_WORDS))
# What people put around a keyword that normalisation removes: case, spaces, punctuation, emoji.
edges = st.text(alphabet=" \t\n.!?,;:*\"'()-\U0001f44b\U0001f64f", max_size=4)
casing = st.sampled_from([str.lower, str.upper, str.title, str.capitalize])
separators = st.sampled_from([" ", "  ", ", ", ". ", "! ", "\n", " - "])
slots = st.lists(
    st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)),
    max_size=5,
).map(tuple)
zones = st.sampled_from(["Europe/Amsterdam", "UTC", "America/New_York", "Asia/Kolkata"])
# Arbitrary unicode, and text built from the parser's own vocabulary so the rules are actually exercised.
vocabulary = st.sampled_from(
    sorted(
        {w for phrase in STOP_WORDS | START_WORDS for w in phrase.split()}
        | {"sms", "mail", "whatsapp", "bel", "bellen", "call", "voicemail", "niet", "geen", "liever", "alleen"}
        | {"only", "maar", "en", "or", "optie", "2", "dinsdag", "10:00", "me", "graag", "please", "portaal", "app"}
    )
)
wordy = st.lists(st.one_of(vocabulary, st.text(max_size=6)), max_size=8).flatmap(
    lambda words: separators.map(lambda sep: sep.join(words))
)
replies = st.one_of(st.text(max_size=200), wordy)


def assert_well_formed(intents: list[Intent]) -> None:
    """A non-empty result; keywords, slots and 'unparsed' stand alone."""
    assert intents
    alone = {Kind.STOP, Kind.START, Kind.SLOT, Kind.UNPARSED}
    if any(i.kind in alone for i in intents):
        assert len(intents) == 1
    for intent in intents:
        assert (intent.channel is not None) == (intent.kind in (Kind.PREFER, Kind.AVOID))


@SETTINGS
@given(text=replies, offered=slots, timezone=zones)
def test_parse_never_raises_and_is_deterministic(text: str, offered: tuple[datetime, ...], timezone: str) -> None:
    first = parse(text, offered, timezone)
    assert_well_formed(first)
    parse("stop met bellen, sms mag wel")  # no state carries over between calls
    assert parse(text, offered, timezone) == first
    assert parse(normalise(text), offered, timezone) == first  # only the normalised text matters


@SETTINGS
@given(text=replies)
def test_stop_only_when_the_whole_message_is_a_keyword(text: str) -> None:
    intents = parse(text)
    assert (intents == STOP) == (normalise(text) in STOP_WORDS)
    assert (Intent(Kind.STOP) in intents) == (intents == STOP)


@SETTINGS
@given(keyword=keywords, case=casing, before=edges, after=edges)
def test_a_keyword_with_case_and_punctuation_around_it_is_stop(
    keyword: str, case: Any, before: str, after: str
) -> None:
    text = f"{before}{case(keyword)}{after}"
    assert (parse(text) == STOP) == (normalise(text) in STOP_WORDS)
    if not any(c.isalnum() for c in before + after):
        assert parse(text) == STOP


@SETTINGS
@given(
    sentence=st.sampled_from(CORPUS["negatives"]),
    keyword=keywords,
    case=casing,
    data=st.data(),
    sep=separators,
)
def test_negative_sentence_words_around_a_keyword_never_opt_out(
    sentence: str, keyword: str, case: Any, data: st.DataObject, sep: str
) -> None:
    words = sentence.split()
    start = data.draw(st.integers(0, len(words)))
    end = data.draw(st.integers(start, len(words)))
    at = data.draw(st.integers(start, end))
    chosen = words[start:end]
    text = sep.join([*chosen[: at - start], case(keyword), *chosen[at - start :]])
    # "stop niet", "afmelden voor het gesprek": only a message that is nothing but a keyword opts out.
    assert (Intent(Kind.STOP) in parse(text)) == (normalise(text) in STOP_WORDS), text


@SETTINGS
@given(sentence=st.sampled_from(CORPUS["negatives"]), case=casing, before=edges, after=edges)
def test_negatives_never_opt_out_whatever_their_case_and_punctuation(
    sentence: str, case: Any, before: str, after: str
) -> None:
    assert Intent(Kind.STOP) not in parse(f"{before}{case(sentence)}{after}")


def test_huge_replies_parse_quickly() -> None:
    """The longest reply the contract allows (2,000 characters), in shapes that stress the regexes."""
    started = datetime.now(UTC)
    for text in ("stop " * 400, "!" * 1999 + "a", "sms me " * 285, "niet " * 400 + "bellen", "a " * 1000):
        assert_well_formed(parse(text[:2000], (started,), "Europe/Amsterdam"))
    assert datetime.now(UTC) - started < timedelta(seconds=2)
