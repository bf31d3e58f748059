"""The benchmark table: every figure next to its target and as a ratio of the raw-Kafka baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _row(what: str, value: float, unit: str, target: str, base: float | None) -> str:
    ratio = f"{value / base:.1%}" if base else ""
    return f"| {what} | {value:,.1f} {unit} | {target} | {ratio} |"


def _cpu_row(p: dict[str, Any]) -> str:
    """CPU per delivery by process, and the ceiling that alone puts on the machine's cores."""
    cpu: dict[str, float] = p.get("cpu_ms_per_delivery", {})
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(cpu.items(), key=lambda kv: -kv[1]))
    ceiling = p.get("cores", 1) * 1000 / total if total else float("nan")
    return (
        f"| CPU per delivery, by process (ms) | {parts}; total {total:.2f} ms → at most {ceiling:,.0f} deliveries/s "
        f"on {p.get('cores', '?')} cores | | |"
    )


APPARATUS = ("smtp-sink", "driver")  # test apparatus on the same cores, reported apart from the product


def _product_row(p: dict[str, Any]) -> str:
    """The product's own CPU per delivery: the services, Kafka and the database (not the sink or the driver)."""
    cpu: dict[str, float] = p.get("cpu_ms_per_delivery", {})
    product = {k: v for k, v in cpu.items() if k not in APPARATUS}
    services = [f"{k} {v:.2f}" for k, v in sorted(product.items(), key=lambda kv: -kv[1])]
    return (
        f"| product CPU per delivery (services + Kafka + database) | {sum(product.values()):.2f} ms "
        f"({', '.join(services)}) | ≤ 1.0 ms; database ≤ 0.3; each service ≤ 0.25 | |"
    )


def _database_row(p: dict[str, Any]) -> str:
    """Per service: database commands and documents written per delivery (the hot path's database work)."""
    parts = []
    for service, counts in sorted(p.get("database_per_delivery", {}).items()):
        commands = sum(v for k, v in counts.items() if k.startswith("commands ") and " ping " not in f"{k} ")
        writes = sum(v for k, v in counts.items() if k.startswith("writes "))
        parts.append(f"{service} {commands:.2f} commands, {writes:.2f} docs")
    return f"| database work per delivery | {'; '.join(parts)} | ≤ 2 docs written | |"


def render_table(r: dict[str, Any]) -> str:
    """Markdown table of one run."""
    base = r["baseline"]["per_s"]
    p, lat, api, prop, mem = r["pipeline"], r["latency"], r["preference_api"], r["propagation"], r["memory"]
    rows = [
        "| measure | value | target | of raw Kafka |",
        "| --- | --- | --- | --- |",
        _row("raw Kafka produce → consume (baseline)", base, "events/s", "", base),
        _row("end to end: ATS events in", p["in_per_s"], "events/s", "", base),
        _row(
            f"end to end: deliveries out (sustained; {p.get('preference_changes', 0):,} preference changes meanwhile)",
            p["out_per_s"],
            "deliveries/s",
            "≥ 1,000; ≥ 2.5% of raw",
            base,
        ),
        _row("preference alone (accept + forward)", r["preference"]["per_s"], "events/s", "", base),
        _row("router alone (snapshots, then ats.accepted)", r["router"]["per_s"], "decisions/s", "", base),
        _row("notifier alone (SMTP sink)", r["notifier"]["per_s"], "sends/s", "", base),
        _row("database, one writer, serial inserts", r["database"]["serial_inserts_per_s"], "docs/s", "", None),
        _row("database, batched inserts (500)", r["database"]["batched_inserts_per_s"], "docs/s", "", None),
        _row("preference API, concurrent (8)", api["concurrent_per_s"], "changes/s", "", None),
        *(
            [
                f"| end to end latency at {low['rate_per_s']:,.0f}/s | p50 {low['p50_ms']:.1f} ms, "
                f"p95 {low['p95_ms']:.1f} ms, p99 {low['p99_ms']:.1f} ms | p50 ≤ 10 ms, p99 ≤ 25 ms | |"
            ]
            if (low := r.get("low_rate"))
            else []
        ),
        f"| end to end latency at {lat['rate_per_s']:,.0f}/s (half load) | p50 {lat['p50_ms']:.1f} ms, "
        f"p95 {lat['p95_ms']:.1f} ms, p99 {lat['p99_ms']:.1f} ms | p99 ≤ 100 ms | |",
        f"| preference API call → acknowledged | p50 {api['p50_ms']:.1f} ms, p99 {api['p99_ms']:.1f} ms "
        f"| p99 < 20 ms | |",
        f"| preference stored → applied, router view | p50 {prop['router_p50_ms']:.1f} ms, "
        f"p99 {prop['router_p99_ms']:.1f} ms | p99 ≤ 20 ms | |",
        f"| preference stored → applied, notifier view | p50 {prop['notifier_p50_ms']:.1f} ms, "
        f"p99 {prop['notifier_p99_ms']:.1f} ms | p99 ≤ 20 ms | |",
        _cpu_row(p),
        _product_row(p),
        _database_row(p),
        f"| router memory per candidate ({mem['candidates']:,} candidates) | {mem['bytes_per_candidate']:,.0f} bytes "
        f"| < 1 KB | |",
        f"| router view rebuild ({mem['candidates']:,} snapshots) | {mem['rebuild_s']:.1f} s "
        f"({mem['snapshots_per_s']:,.0f}/s) | | |",
    ]
    return "\n".join(rows)


def read_section(readme: Path, marker: str) -> str:
    """The text between the `<!-- marker:start/end -->` comments in the README."""
    text = readme.read_text()
    return text.split(f"<!-- {marker}:start -->", 1)[1].split(f"<!-- {marker}:end -->", 1)[0]


def write_readme(readme: Path, table: str, marker: str = "bench-table") -> None:
    """Replace the table between the `<!-- marker:start/end -->` comments in the README."""
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    text = readme.read_text()
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{table}\n{end}{tail}")
