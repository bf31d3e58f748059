"""The dashboards' building blocks: boards of rows of panels with their PromQL, and query helpers.

Conventions: rates use `$__rate_interval`; totals over the visible range use `$__range`; lag is the
`max` over instances (each instance reports its whole group); counters the services start at zero
(see services/*/metrics.py) so a first increment shows. Every query here is evaluated against a real
Prometheus scraping the running services by tests/ops/test_dashboards_live.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

RATE = "$__rate_interval"
RANGE = "$__range"


@dataclass(frozen=True)
class Query:
    """One PromQL query and its legend."""

    expr: str
    legend: str = ""


@dataclass(frozen=True)
class Panel:
    """One panel."""

    title: str
    description: str
    queries: tuple[Query, ...]
    unit: str = "short"
    kind: Literal["timeseries", "stat", "bargauge"] = "timeseries"
    width: int = 12


@dataclass(frozen=True)
class Row:
    """A titled row of panels."""

    title: str
    panels: tuple[Panel, ...]


@dataclass(frozen=True)
class Board:
    """One dashboard: file name, uid, title, rows."""

    slug: str
    uid: str
    title: str
    description: str
    rows: tuple[Row, ...]


def _sum(by: str) -> str:
    return f"sum by ({by}) " if by else "sum"


def rate(metric: str, by: str, selector: str = "") -> str:
    """Per-second rate summed by labels ('' sums everything)."""
    return f"{_sum(by)}(rate({metric}{selector}[{RATE}]))"


def total(metric: str, by: str, selector: str = "") -> str:
    """Increase over the dashboard's time range, summed by labels ('' sums everything)."""
    return f"{_sum(by)}(increase({metric}{selector}[{RANGE}]))"


def quantiles(metric: str, by: str, label: str) -> tuple[Query, ...]:
    """p50 and p99 of a histogram."""
    return tuple(
        Query(f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket[{RATE}])))", f"p{int(q * 100)} {label}")
        for q in (0.5, 0.99)
    )


def or_zero(expr: str, like: str) -> str:
    """`expr`, or zero per series of `like` when `expr` has no series yet (errors that never happened)."""
    return f"({expr}) or ({like} * 0)"


def ratio(numerator: str, denominator: str) -> str:
    """One query divided by another (series matched on their remaining labels)."""
    return f"{numerator} / {denominator}"


SENT = '{status="sent"}'
SILENCE = '{cause="silence"}'
