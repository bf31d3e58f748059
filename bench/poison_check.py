"""Reconciling the poison scenario's dead letters: every hostile record in its topic's DLQ, by every reader.

A dead letter is matched to what was injected by its original topic, partition and offset headers
(services/common/kafka.py), and to a reader by its `dlq.consumer` header, whose first segment after
the world's prefix is the service (`<prefix>router`, `<prefix>router.view`, ...). A DLQ copy must
keep the original key and value (for a redrive) and carry a non-empty reason. Pure functions only.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from bench.poison import Poison

# Header names of a dead letter (services/common/kafka.py is the writer; the bench reads them as a stranger).
KIND, REASON, ORIGINAL_TOPIC, ORIGINAL_PARTITION, ORIGINAL_OFFSET, CONSUMER, FAILED_AT = (
    "dlq.error.kind",
    "dlq.error.reason",
    "dlq.original.topic",
    "dlq.original.partition",
    "dlq.original.offset",
    "dlq.consumer",
    "dlq.failed_at",
)


@dataclass(frozen=True)
class Injected:
    """A poison record as the broker acknowledged it."""

    poison: Poison
    topic: str  # physical name (with the world's prefix)
    partition: int
    offset: int
    at: datetime


@dataclass(frozen=True)
class DeadLetter:
    """One record found on a DLQ, as its headers describe it."""

    original_topic: str
    partition: int
    offset: int
    consumer: str
    kind: str
    reason: str
    failed_at: datetime | None
    key: bytes | None
    value: bytes | None


def dead_letter(headers: Sequence[tuple[str, bytes]], key: bytes | None, value: bytes | None) -> DeadLetter | None:
    """Parse one DLQ record (None when its original topic, partition or offset is missing or unreadable)."""
    h = {name: raw.decode("utf-8", "replace") for name, raw in headers}
    try:
        where = (h[ORIGINAL_TOPIC], int(h[ORIGINAL_PARTITION]), int(h[ORIGINAL_OFFSET]))
    except (KeyError, ValueError):
        return None
    try:
        failed_at = datetime.fromisoformat(h[FAILED_AT]) if FAILED_AT in h else None
    except ValueError:
        failed_at = None
    return DeadLetter(*where, h.get(CONSUMER, ""), h.get(KIND, ""), h.get(REASON, ""), failed_at, key, value)


def service_of(consumer: str, prefix: str) -> str | None:
    """The service a dead letter's consumer name belongs to (None: not one of this world's)."""
    if not consumer.startswith(prefix):
        return None
    return consumer[len(prefix) :].split(".", 1)[0] or None


@dataclass(frozen=True)
class Outcome:
    """What became of one poison record."""

    injected: Injected
    by: frozenset[str]  # services that dead-lettered it with a reason
    kinds: tuple[str, ...]  # dlq.error.kind of every copy
    without_reason: int  # copies with an empty reason
    altered: int  # copies whose key or value differ from the original
    seconds: float | None  # acknowledged -> the last reader's first dead letter (None: not all readers)

    @property
    def missing(self) -> frozenset[str]:
        """Readers that have not dead-lettered it."""
        return self.injected.poison.must_reach - self.by

    @property
    def complete(self) -> bool:
        """In the DLQ with a reason by every reader, every copy intact."""
        return not self.missing and not self.without_reason and not self.altered


def outcomes(injected: Iterable[Injected], letters: Iterable[DeadLetter], prefix: str) -> list[Outcome]:
    """Match each injected record to its dead letters."""
    found: dict[tuple[str, int, int], list[DeadLetter]] = defaultdict(list)
    for d in letters:
        found[(d.original_topic, d.partition, d.offset)].append(d)
    out = []
    for inj in injected:
        copies = found.get((inj.topic, inj.partition, inj.offset), [])
        first: dict[str, datetime | None] = {}
        for d in copies:
            service = service_of(d.consumer, prefix)
            if service is not None and d.reason.strip() and service not in first:
                first[service] = d.failed_at
        by = frozenset(first)
        done = [t for s, t in first.items() if s in inj.poison.must_reach]
        seconds = None
        if inj.poison.must_reach <= by and all(t is not None for t in done):
            seconds = max(((t - inj.at).total_seconds() for t in done if t is not None), default=0.0)
        out.append(
            Outcome(
                inj,
                by,
                tuple(d.kind for d in copies),
                sum(1 for d in copies if not d.reason.strip()),
                sum(1 for d in copies if d.key != inj.poison.key or (d.value or b"") != (inj.poison.value or b"")),
                seconds,
            )
        )
    return out


def problems(results: Iterable[Outcome]) -> list[str]:
    """One precise line per poison record that did not end where it must."""
    lines = []
    for o in results:
        p, inj = o.injected.poison, o.injected
        where = f"{p.kind} on {p.topic} (partition {inj.partition}, offset {inj.offset})"
        if o.missing:
            lines.append(f"{where}: not dead-lettered by {', '.join(sorted(o.missing))}")
        if o.without_reason:
            lines.append(f"{where}: {o.without_reason} dead letter(s) without a reason")
        if o.altered:
            lines.append(f"{where}: {o.altered} dead letter(s) do not keep the original key and value")
    return lines


def by_topic(results: Iterable[Outcome]) -> list[dict[str, object]]:
    """Per poisoned topic: records, how many ended complete, the error kinds seen, the slowest dead letter."""
    groups: dict[str, list[Outcome]] = defaultdict(list)
    for o in results:
        groups[o.injected.poison.topic].append(o)
    rows = []
    for topic, items in groups.items():
        kinds = Counter(k for o in items for k in o.kinds)
        times = [o.seconds for o in items if o.seconds is not None]
        rows.append(
            {
                "topic": topic,
                "readers": sorted(items[0].injected.poison.must_reach),
                "records": len(items),
                "complete": sum(o.complete for o in items),
                "kinds": dict(sorted(kinds.items())),
                "slowest_s": max(times, default=float("nan")),
            }
        )
    return rows
