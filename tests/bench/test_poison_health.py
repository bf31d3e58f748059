"""Judging services from probes: recovered, stuck, or ready while a partition stood still."""

from __future__ import annotations

import math

import pytest

from bench.poison_health import Health, Probe, health, past_poison, problems, stall_times
from bench.probing import own_lag

KEY = ("w.router", "w.ats.accepted", 2)
OTHER = ("w.router", "w.notifications.status", 0)


def probe(at: float, ready: bool = True, lag: float = 0.0, **positions: tuple[int, int] | None) -> Probe:
    measured = None if "unmeasured" in positions else {KEY: positions.get("key") or (0, 0)}
    if measured is not None and "other" in positions:
        measured[OTHER] = positions["other"] or (0, 0)
    return Probe(at, "router", ready, () if ready else ("stalled:w.router",), lag, measured)


def test_a_partition_stalls_while_it_lags_and_its_commit_stands_still() -> None:
    probes = [
        probe(0, key=(2, 10)),
        probe(1, key=(3, 10)),
        probe(4, key=(1, 12)),  # the commit moved: the clock starts again
        probe(9, key=(4, 12)),
        probe(10, unmeasured=None),  # proves nothing, changes nothing
        probe(12, key=(0, 16)),
        probe(13, key=(1, 16)),
    ]
    assert [s.get(KEY) for s in stall_times(probes)] == [0, 1, 0, 5, None, 0, 1]  # lag again: counted from 12


def test_recovered_at_the_first_measured_probe_after_settling_that_is_ready_with_zero_lag() -> None:
    probes = [
        probe(0.5, key=(0, 4)),  # before the poison was all on the broker: not evidence
        probe(1.5, lag=2, key=(0, 6)),  # its own gauge still shows lag
        probe(2.5, unmeasured=None),  # not measured by the bench
        probe(3.5, ready=False, key=(0, 6)),
        probe(4.5, key=(1, 6)),  # the broker shows lag
        probe(5.5, key=(0, 7)),
    ]
    h = health(probes, stall_after_s=10, grace_s=7, settled_at=1.0)
    assert h.recovered_s == 5.5
    assert h.ok and h.max_lag == 2 and h.unmeasured == 1
    assert h.longest_not_ready_s == 1.0


def test_ready_while_a_partition_stood_still_past_the_stall_time_and_grace_is_false_readiness() -> None:
    probes = [probe(t, key=(3, 10)) for t in (0, 5, 10, 15, 16.9)]  # stalled since 0, still "ready"
    probes += [probe(17.5, key=(3, 10)), probe(20, ready=False, key=(3, 10)), probe(25, key=(3, 10))]
    h = health(probes, stall_after_s=10, grace_s=7, settled_at=0)
    assert h.falsely_ready == 2  # at 17.5 and 25; the service may take the grace to notice
    assert h.stuck == ("w.router w.ats.accepted/2",)
    assert h.recovered_s is None and not h.ok
    assert h.stalled_reasons == ("stalled:w.router",)
    assert problems([h], 90) == [
        "router: not ready with zero lag within 90 s of the injection",
        "router: ready in 2 probe(s) while a partition of it was stalled",
        "router: stuck at the end: w.router w.ats.accepted/2",
    ]


def test_a_service_that_says_not_ready_while_stalled_is_honest() -> None:
    probes = [probe(0, key=(1, 3)), *(probe(t, ready=False, key=(1, 3)) for t in (9, 18, 30)), probe(31, key=(0, 4))]
    h = health(probes, stall_after_s=10, grace_s=7, settled_at=0)
    assert h.falsely_ready == 0 and h.stuck == () and h.recovered_s == 31
    assert h.longest_not_ready_s == 22


def test_stuck_is_judged_on_the_last_measured_probe() -> None:
    probes = [probe(0, key=(1, 3), other=(0, 0)), probe(12, key=(1, 3), other=(0, 0)), probe(13, unmeasured=None)]
    assert health(probes, stall_after_s=10, grace_s=7, settled_at=0).stuck == ("w.router w.ats.accepted/2",)


def test_late_recovery_is_a_problem_too() -> None:
    late = Health("notifier", 120.0, 3.0, 0, 0.0, 1.0, (), (), 0)
    assert problems([late], 90) == ["notifier: not ready with zero lag within 90 s of the injection"]
    never = Health("notifier", 20.0, None, 0, 0.0, 1.0, (), (), 0)
    assert problems([never], 90) == ["notifier: a group of it never committed past its poison records"]
    assert not never.ok


def test_past_the_poison_when_every_group_reading_its_partition_committed_beyond_it() -> None:
    poison = {("w.ats.accepted", 2): 7}
    probes = [
        probe(0, key=(3, 7)),  # committed 7: the poison at 7 is the next record, not yet done
        probe(1, unmeasured=None),
        probe(2, key=(0, 8), other=(0, 0)),
    ]
    assert past_poison(probes, poison) == 2
    assert past_poison(probes[:2], poison) is None
    # A partition no group of the service reports on is never "past".
    assert past_poison(probes, {("w.candidate.inbound", 0): 0}) is None
    assert health(probes, 10, 7, 0, poison).past_poison_s == 2


def test_no_probes_is_an_error() -> None:
    with pytest.raises(ValueError, match="no probes"):
        health([], 10, 7, 0)


def test_own_lag_is_read_from_the_prometheus_exposition() -> None:
    text = (
        "# HELP kafka_consumer_lag End offset minus the group's committed offset.\n"
        "# TYPE kafka_consumer_lag gauge\n"
        'kafka_consumer_lag{group="w.router",partition="2",topic="w.ats.accepted"} 3.0\n'
        'kafka_consumer_lag{group="w.router",partition="0",topic="w.notifications.status"} 0.0\n'
        "# TYPE consumer_stalled gauge\n"
        'consumer_stalled{group="w.router"} 0.0\n'
    )
    assert own_lag(text) == {KEY: 3.0, OTHER: 0.0}
    assert own_lag("") == {}
    assert math.isnan(health([probe(0, lag=math.nan)], 10, 7, 0).max_lag)
