"""The stall detector: lag that stays while the committed offset stands still, per partition, on the owning instance."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from services.common.stalls import Position, StallDetector

G, T = "notifier.email", "dispatch.email"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def detector(owned: dict[str, set[tuple[str, int]]] | None = None) -> tuple[StallDetector, Clock, CollectorRegistry]:
    clock, registry = Clock(), CollectorRegistry()
    return StallDetector(60.0, registry, (lambda: owned) if owned is not None else None, clock), clock, registry


def stalled_gauge(registry: CollectorRegistry, group: str = G) -> float | None:
    return registry.get_sample_value("consumer_stalled", {"group": group})


def test_lag_with_a_committed_offset_that_does_not_move_is_a_stall_after_the_configured_time() -> None:
    stalls, clock, registry = detector()
    for _ in range(6):
        stalls.observe({(G, T, 0): Position(lag=5, committed=17), (G, T, 1): Position(lag=0, committed=40)})
        clock.now += 9.9
    assert stalls.stalled() == {}
    assert stalled_gauge(registry) == 0
    clock.now = 1060.0
    stalls.observe({(G, T, 0): Position(lag=7, committed=17), (G, T, 1): Position(lag=0, committed=40)})
    assert stalls.stalled() == {(G, T, 0): 60.0}
    assert stalled_gauge(registry) == 1
    assert stalls.problems() == {
        f"stalled:{G}": f"{T}/0: 7 records waiting, committed offset 17 unchanged for 60s",
    }


def test_a_slow_consumer_that_keeps_committing_is_not_stalled() -> None:
    stalls, clock, registry = detector()
    for i in range(20):
        stalls.observe({(G, T, 0): Position(lag=500, committed=100 + i)})
        clock.now += 10
    assert stalls.stalled() == {}
    assert stalled_gauge(registry) == 0


def test_an_idle_consumer_without_lag_is_not_stalled_and_a_commit_ends_a_stall() -> None:
    stalls, clock, registry = detector()
    for _ in range(10):
        stalls.observe({(G, T, 0): Position(lag=0, committed=17)})
        clock.now += 10
    assert stalls.stalled() == {}
    last_seen_without_lag = clock.now - 10
    stalls.observe({(G, T, 0): Position(lag=3, committed=17)})  # lag appears between two measurements
    clock.now = last_seen_without_lag + 59
    stalls.observe({(G, T, 0): Position(lag=3, committed=17)})
    assert stalls.stalled() == {}
    clock.now = last_seen_without_lag + 60
    stalls.observe({(G, T, 0): Position(lag=3, committed=17)})
    assert stalled_gauge(registry) == 1
    stalls.observe({(G, T, 0): Position(lag=2, committed=18)})
    assert stalls.stalled() == {} and stalls.problems() == {}
    assert stalled_gauge(registry) == 0


def test_readiness_counts_only_partitions_this_instance_consumes_the_gauge_counts_all() -> None:
    owned = {G: {(T, 1)}}
    stalls, clock, registry = detector(owned)
    stalls.observe(
        {(G, T, 0): Position(3, 17), (G, T, 1): Position(0, 9), ("router", "ats.accepted", 1): Position(0, 4)}
    )
    clock.now += 61
    stalls.observe(
        {(G, T, 0): Position(3, 17), (G, T, 1): Position(0, 9), ("router", "ats.accepted", 1): Position(0, 4)}
    )
    assert stalled_gauge(registry) == 1, "partition 0 is stuck, whoever owns it"
    assert stalled_gauge(registry, "router") == 0
    assert stalls.problems() == {}, "another instance owns partition 0; this one keeps serving"
    owned[G].add((T, 0))
    assert list(stalls.problems()) == [f"stalled:{G}"]
