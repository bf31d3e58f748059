"""Stalled consumers: records waiting in a partition while the group's committed offset stands still.

Lag alone says a group is behind; it does not say whether it is moving. A partition is stalled when
its lag has stayed above zero and its committed offset has not changed for `after_s` seconds: a
record that fails for ever, a handler that hangs, a consumer that left the group. The lag watcher
(services/common/lag.py) feeds every measurement in; this module only keeps time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from prometheus_client import CollectorRegistry, Gauge

Key = tuple[str, str, int]  # group, topic, partition
Owned = Callable[[], Mapping[str, set[tuple[str, int]]]]  # group -> (topic, partition) this instance consumes


class Position(NamedTuple):
    """One partition as a group sees it: records still to read, and where the group has committed."""

    lag: int
    committed: int


@dataclass
class _Mark:
    committed: int
    since: float  # when the committed offset last moved, or the partition was last without lag
    lag: int


class StallDetector:
    """Exports consumer_stalled{group} and tells readiness which of this instance's groups are stalled.

    The gauge covers the whole group, like the lag gauge (every instance reports it, alerts take the
    max), so a partition no live member owns still shows. Readiness counts only the partitions this
    instance consumes (`owned`): the instance that holds a stuck partition reports 503, the others
    keep serving.
    """

    def __init__(
        self,
        after_s: float,
        registry: CollectorRegistry | None,
        owned: Owned | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.after_s = after_s
        self._owned = owned
        self._clock = clock
        self._marks: dict[Key, _Mark] = {}
        self.gauge = Gauge(
            "consumer_stalled",
            "1 while a partition of the group has had records waiting and no commit for the stall time.",
            ["group"],
            registry=registry,
        )

    def observe(self, measured: Mapping[Key, Position]) -> None:
        """Take one measurement of every partition of every group; update the gauge."""
        now = self._clock()
        for key, pos in measured.items():
            mark = self._marks.get(key)
            if mark is None or pos.lag == 0 or pos.committed != mark.committed:
                self._marks[key] = _Mark(pos.committed, now, pos.lag)
            else:
                mark.lag = pos.lag
        stalled_groups = {group for group, _, _ in self.stalled()}
        for group in {group for group, _, _ in measured}:
            self.gauge.labels(group=group).set(1 if group in stalled_groups else 0)

    def stalled(self) -> dict[Key, float]:
        """Stalled partitions and for how long their committed offset has stood still."""
        now = self._clock()
        return {k: now - m.since for k, m in self._marks.items() if m.lag > 0 and now - m.since >= self.after_s}

    def problems(self) -> dict[str, str]:
        """Readiness probe: {"stalled:<group>": reason} for the stalled partitions this instance consumes."""
        owned = self._owned() if self._owned is not None else None
        out: dict[str, list[str]] = {}
        for (group, topic, partition), idle in sorted(self.stalled().items()):
            if owned is not None and (topic, partition) not in owned.get(group, set()):
                continue
            mark = self._marks[(group, topic, partition)]
            out.setdefault(f"stalled:{group}", []).append(
                f"{topic}/{partition}: {mark.lag} records waiting, committed offset {mark.committed} "
                f"unchanged for {idle:.0f}s"
            )
        return {name: "; ".join(parts) for name, parts in out.items()}
