"""Matching dead letters to the poison that was injected: by origin, by reader, with a reason, intact."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bench.poison import Poison
from bench.poison_check import DeadLetter, Injected, by_topic, dead_letter, outcomes, problems, service_of

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
STATUS = Poison(
    "notifications.status", "deep_json", b"w.p1", b"[[]]", 2, frozenset({"preference", "router", "notifier"})
)
DISPATCH = Poison("dispatch.sms", "tombstone", b"w.p2", None, 4, frozenset({"notifier"}))


def injected(p: Poison, offset: int) -> Injected:
    return Injected(p, f"w.{p.topic}", p.partition or 0, offset, T0)


def letter(inj: Injected, consumer: str, after_s: float, reason: str = "why", **change: bytes | None) -> DeadLetter:
    original = {"key": inj.poison.key, "value": inj.poison.value} | change
    return DeadLetter(
        inj.topic,
        inj.partition,
        inj.offset,
        consumer,
        "malformed_json",
        reason,
        T0 + timedelta(seconds=after_s),
        original["key"],
        original["value"],
    )


def test_a_dead_letter_is_read_from_its_headers() -> None:
    headers = [
        ("dlq.error.kind", b"invalid_key"),
        ("dlq.error.reason", b"the record key is not UTF-8"),
        ("dlq.original.topic", b"w.preferences.changed"),
        ("dlq.original.partition", b"3"),
        ("dlq.original.offset", b"17"),
        ("dlq.consumer", b"w.router.view"),
        ("dlq.failed_at", T0.isoformat().encode()),
    ]
    d = dead_letter(headers, b"\xff", b"{}")
    assert d == DeadLetter(
        "w.preferences.changed",
        3,
        17,
        "w.router.view",
        "invalid_key",
        "the record key is not UTF-8",
        T0,
        b"\xff",
        b"{}",
    )
    assert dead_letter(headers[:3], None, None) is None  # no partition or offset: cannot be matched
    assert dead_letter([*headers[:3], ("dlq.original.partition", b"x"), headers[4]], None, None) is None


def test_the_service_is_the_first_segment_of_the_consumer_name() -> None:
    assert service_of("w.router", "w.") == "router"
    assert service_of("w.router.view", "w.") == "router"
    assert service_of("w.notifier", "w.") == "notifier"
    assert service_of("other.router", "w.") is None
    assert service_of("w.", "w.") is None


def test_complete_only_when_every_reader_dead_lettered_it_with_a_reason() -> None:
    status, dispatch = injected(STATUS, 5), injected(DISPATCH, 9)
    letters = [
        letter(status, "w.preference", 0.2),
        letter(status, "w.router", 0.4),
        letter(status, "w.notifier", 1.5, reason="  "),  # a copy without a reason does not count
        letter(dispatch, "w.notifier", 0.3, value=b""),  # a tombstone's copy has an empty value: intact
        letter(dispatch, "w.notifier", 0.9),  # a second copy (a redelivered batch) is not a problem
        letter(injected(DISPATCH, 10), "w.notifier", 0.1),  # another offset: not this record's
    ]
    first, second = outcomes([status, dispatch], letters, "w.")
    assert first.by == {"preference", "router"} and first.missing == {"notifier"}
    assert first.without_reason == 1 and not first.complete and first.seconds is None
    assert second.complete and second.by == {"notifier"} and second.kinds == ("malformed_json",) * 2
    assert second.seconds == 0.3
    assert problems([first, second]) == [
        "deep_json on notifications.status (partition 2, offset 5): not dead-lettered by notifier",
        "deep_json on notifications.status (partition 2, offset 5): 1 dead letter(s) without a reason",
    ]


def test_a_copy_that_lost_the_original_key_or_value_is_reported() -> None:
    dispatch = injected(DISPATCH, 9)
    [changed] = outcomes([dispatch], [letter(dispatch, "w.notifier", 0.1, key=b"w.p2-other")], "w.")
    assert changed.altered == 1 and not changed.complete
    assert problems([changed]) == [
        "tombstone on dispatch.sms (partition 4, offset 9): 1 dead letter(s) do not keep the original key and value"
    ]


def test_the_slowest_reader_gives_the_time_and_topics_are_summarised() -> None:
    status = injected(STATUS, 5)
    letters = [letter(status, f"w.{s}", t) for s, t in (("preference", 0.2), ("router", 2.5), ("notifier", 0.7))]
    results = outcomes([status, injected(DISPATCH, 1)], letters, "w.")
    assert results[0].seconds == 2.5
    summary = {row["topic"]: row for row in by_topic(results)}
    assert summary["notifications.status"] == {
        "topic": "notifications.status",
        "readers": ["notifier", "preference", "router"],
        "records": 1,
        "complete": 1,
        "kinds": {"malformed_json": 3},
        "slowest_s": 2.5,
    }
    assert summary["dispatch.sms"]["complete"] == 0 and summary["dispatch.sms"]["kinds"] == {}
