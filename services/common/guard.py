"""The input guard: how a service's batch subscribers treat failures, and whether its inputs are healthy now.

Classification lives in services/common/failures.py; the batch mechanics in services/common/consuming.py.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge

from schemas.envelope import DecodeError
from services.common.failures import SystematicFailureError, failure_reason, is_transient


@dataclass
class _Failing:
    since: float
    last: float
    count: int
    reason: str


class InputGuard:
    """How a service's batch subscribers treat failures, and whether its inputs are healthy now.

    Deterministic: a record is dead-lettered after `poison_attempts` failures in a row, unless every
    record fails (`settle`). Transient: the handler backs off exponentially (with jitter, capped) and
    the batch is redelivered; meanwhile `problems()` names the handler, so /ready is 503 until one of
    its batches succeeds again.
    """

    def __init__(
        self,
        poison_attempts: int = 3,
        *,
        transient: tuple[type[BaseException], ...] = (),
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        systematic_after: int = 5,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.poison_attempts = poison_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.systematic_after = systematic_after
        self._transient = transient
        self._clock = clock
        self._failing: dict[str, _Failing] = {}
        self._streak: dict[str, int] = {}  # deterministic failures in a row without a record going through
        self._counter = Counter(
            "consumer_transient_failures_total",
            "Batches that failed transiently (database, broker or provider unreachable) and were retried.",
            ["handler"],
            registry=registry,
        )
        self._gauge = Gauge(
            "consumer_backing_off",
            "1 while a handler backs off after a transient failure, until one of its batches succeeds.",
            ["handler"],
            registry=registry,
        )

    def settle(self, handler: str, handled: bool, poisoned: Sequence[DecodeError]) -> None:
        """After a batch: allow its poison records to be dead-lettered, or raise SystematicFailureError.

        Poison is told from a systematic failure by contrast: once `systematic_after` records in a row
        (across batches) failed deterministically and none went through in between, the records are not
        at fault; the batch is retried like a transient failure and nothing more is dead-lettered.
        """
        streak = 0 if handled else self._streak.get(handler, 0) + len(poisoned)
        if poisoned and streak >= self.systematic_after:
            raise SystematicFailureError(
                f"{streak} records in a row failed deterministically and none went through, so none is "
                f"dead-lettered; the last: {poisoned[-1].reason}"
            )
        self._streak[handler] = streak

    def expect(self, handler: str) -> None:
        """Start a handler's series at zero (a first failure then shows in rates)."""
        self._counter.labels(handler=handler)
        self._gauge.labels(handler=handler).set(0)

    def is_transient(self, exc: BaseException) -> bool:
        """Classify one failure (the service's own transient classes included)."""
        return is_transient(exc, self._transient)

    def failed(self, handler: str, exc: BaseException) -> float:
        """Record a transient failure of a handler; return how long to back off before the redelivery."""
        now = self._clock()
        state = self._failing.get(handler) or _Failing(now, now, 0, "")
        state.count += 1
        state.last = now
        state.reason = failure_reason(exc)
        self._failing[handler] = state
        self._counter.labels(handler=handler).inc()
        self._gauge.labels(handler=handler).set(1)
        delay: float = min(self.backoff_max_s, self.backoff_s * 2.0 ** min(state.count - 1, 30))
        # Jitter: instances retrying in step would hit a recovering server all at once.
        return delay * random.uniform(0.5, 1.0)

    def succeeded(self, handler: str) -> None:
        """A batch of this handler went through: its backoff and its readiness problem end."""
        if self._failing.pop(handler, None) is not None:
            self._gauge.labels(handler=handler).set(0)

    def problems(self) -> dict[str, str]:
        """Readiness probe: {"inputs": reason} while a handler is failing transiently."""
        # A handler whose partitions moved away never gets its batch back; forget it after a while (far
        # longer than a backoff plus the redelivery, which takes a fetch round trip or two).
        now = self._clock()
        horizon = now - max(3 * self.backoff_max_s, 60.0)
        for handler in [h for h, f in self._failing.items() if f.last < horizon]:
            self.succeeded(handler)
        if not self._failing:
            return {}
        parts = [
            f"{h} retrying for {now - f.since:.0f}s ({f.count} tries): {f.reason}" for h, f in self._failing.items()
        ]
        return {"inputs": "; ".join(sorted(parts))}
