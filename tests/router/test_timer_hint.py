"""The router's timer hint: when the working set must be scanned again."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from services.router.store import TimerHint

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def scanned(hint: TimerHint, parts: list[int], *seen: datetime) -> TimerHint:
    hint.scanning(parts)
    hint.bring_forward(*seen)
    return hint


def test_first_call_scans_and_a_quiet_working_set_waits_for_the_backstop() -> None:
    hint = TimerHint(backstop_s=3600)
    assert hint.should_scan([0, 1], NOW)
    scanned(hint, [0, 1])
    assert not hint.should_scan([0, 1], NOW + timedelta(days=30))


def test_the_earliest_time_seen_by_a_scan_wakes_it() -> None:
    hint = scanned(TimerHint(3600), [0], NOW + timedelta(hours=2), NOW + timedelta(minutes=5))
    assert not hint.should_scan([0], NOW + timedelta(minutes=4))
    assert hint.should_scan([0], NOW + timedelta(minutes=5))


def test_a_write_brings_the_hint_forward_and_none_is_ignored() -> None:
    hint = scanned(TimerHint(3600), [0], NOW + timedelta(hours=2))
    hint.bring_forward(None, NOW + timedelta(seconds=30), None)
    assert hint.should_scan([0], NOW + timedelta(seconds=30))
    hint.bring_forward(NOW + timedelta(hours=5))  # later than what is known: changes nothing
    assert not hint.should_scan([0], NOW + timedelta(seconds=29))


def test_other_partitions_or_a_forgotten_hint_scan_at_once() -> None:
    hint = scanned(TimerHint(3600), [0, 1])
    assert hint.should_scan([0, 1, 2], NOW)
    hint.forget()
    assert hint.should_scan([0, 1], NOW)


def test_the_backstop_bounds_what_a_missed_write_could_delay() -> None:
    hint = scanned(TimerHint(backstop_s=0.05), [0])
    assert not hint.should_scan([0], NOW)
    time.sleep(0.06)
    assert hint.should_scan([0], NOW)
