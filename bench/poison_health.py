"""Was a service stuck, or ready while stuck? Judged from probes taken during the poison scenario.

Each probe holds what the service says (/ready, the sum of its `kafka_consumer_lag`) and what the
bench measured itself from outside (per group partition the service consumes: lag and committed
offset, from the broker). A partition is stalled, by the same rule the services apply, when its
lag stayed above zero while its committed offset did not move for `stall_after_s`. A service is
falsely ready when /ready said 200 while one of its partitions had been stalled for `stall_after_s`
plus `grace_s` (the service measures lag every few seconds, so it may notice a little later than we do).
Pure functions only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Key = tuple[str, str, int]  # group, topic, partition


@dataclass(frozen=True)
class Probe:
    """One look at one service."""

    at: float  # seconds since the injection began
    service: str
    ready: bool
    reasons: tuple[str, ...]  # what /ready said was pending
    lag: float  # sum of the service's own kafka_consumer_lag (nan when /metrics did not answer)
    positions: Mapping[Key, tuple[int, int]] | None  # measured by the bench: (lag, committed); None: not measured


@dataclass(frozen=True)
class Health:
    """How one service came through."""

    service: str
    recovered_s: float | None  # first probe after `settled_at` that was ready with zero lag (own and measured)
    past_poison_s: float | None  # first probe at which every group of it had committed past its poison records
    falsely_ready: int  # probes ready while a partition of it had been stalled beyond the stall time and grace
    longest_not_ready_s: float
    max_lag: float  # the largest lag the service itself reported
    stalled_reasons: tuple[str, ...]  # distinct `stalled:<group>` conditions it reported
    stuck: tuple[str, ...]  # partitions stalled at the last measured probe
    unmeasured: int  # probes without the bench's own measurement (the broker did not answer)

    @property
    def ok(self) -> bool:
        """Recovered, past its poison, never falsely ready, nothing stuck at the end."""
        recovered = self.recovered_s is not None and self.past_poison_s is not None
        return recovered and not self.falsely_ready and not self.stuck


def stall_times(probes: Sequence[Probe]) -> list[dict[Key, float]]:
    """For each probe (in order), how long each of its lagging partitions has stood still (0 if moving)."""
    since: dict[Key, tuple[int, float]] = {}  # committed offset, since when lagging without moving
    out = []
    for probe in probes:
        now: dict[Key, float] = {}
        for key, (lag, committed) in (probe.positions or {}).items():
            held = since.get(key)
            if lag == 0 or held is None or held[0] != committed:
                since[key] = (committed, probe.at)
            now[key] = probe.at - since[key][1] if lag > 0 else 0.0
        out.append(now)
    return out


def _not_ready_streak(probes: Sequence[Probe]) -> float:
    longest, began = 0.0, None
    for probe in probes:
        if not probe.ready and began is None:
            began = probe.at
        elif probe.ready and began is not None:
            longest, began = max(longest, probe.at - began), None
    if began is not None:
        longest = max(longest, probes[-1].at - began)
    return longest


def past_poison(probes: Sequence[Probe], poison: Mapping[tuple[str, int], int]) -> float | None:
    """When every group had committed past the last poison offset of each (topic, partition) it reads, if ever."""
    for probe in probes:
        if probe.positions is None:
            continue
        commits: dict[tuple[str, int], list[int]] = defaultdict(list)
        for (_, topic, partition), (_, committed) in probe.positions.items():
            commits[(topic, partition)].append(committed)
        if all(commits[where] and min(commits[where]) > offset for where, offset in poison.items()):
            return probe.at
    return None


def health(
    probes: Sequence[Probe],
    stall_after_s: float,
    grace_s: float,
    settled_at: float,
    poison: Mapping[tuple[str, int], int] | None = None,
) -> Health:
    """Judge one service's probes (in time order).

    `settled_at`: when every poison record was on the broker; `poison`: (topic, partition) -> the last
    poison offset there, for the topics the service reads in groups.
    """
    if not probes:
        raise ValueError("no probes")
    stalls = stall_times(probes)
    falsely = sum(
        1
        for probe, stalled in zip(probes, stalls, strict=True)
        if probe.ready and any(s >= stall_after_s + grace_s for s in stalled.values())
    )
    recovered = next(
        (
            p.at
            for p in probes
            if p.at >= settled_at
            and p.ready
            and p.lag == 0
            and p.positions is not None
            and all(lag == 0 for lag, _ in p.positions.values())
        ),
        None,
    )
    measured = [stalled for probe, stalled in zip(probes, stalls, strict=True) if probe.positions is not None]
    last = measured[-1] if measured else {}
    return Health(
        service=probes[0].service,
        recovered_s=recovered,
        past_poison_s=past_poison(probes, poison or {}),
        falsely_ready=falsely,
        longest_not_ready_s=_not_ready_streak(probes),
        max_lag=max((p.lag for p in probes if p.lag == p.lag), default=float("nan")),
        stalled_reasons=tuple(sorted({r for p in probes for r in p.reasons if r.startswith("stalled:")})),
        stuck=tuple(f"{g} {t}/{p}" for (g, t, p), s in sorted(last.items()) if s >= stall_after_s),
        unmeasured=len(probes) - len(measured),
    )


def problems(results: Sequence[Health], limit_s: float) -> list[str]:
    """One line per service that did not come through."""
    lines = []
    for h in results:
        if h.recovered_s is None or h.recovered_s > limit_s:
            lines.append(f"{h.service}: not ready with zero lag within {limit_s:.0f} s of the injection")
        if h.past_poison_s is None:
            lines.append(f"{h.service}: a group of it never committed past its poison records")
        if h.falsely_ready:
            lines.append(f"{h.service}: ready in {h.falsely_ready} probe(s) while a partition of it was stalled")
        if h.stuck:
            lines.append(f"{h.service}: stuck at the end: {', '.join(h.stuck)}")
    return lines
