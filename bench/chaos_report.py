"""The chaos tables: one row per scenario, the poison scenario's own tables, and the README section they fill.

A run of some scenarios (`--only`) refreshes their rows in the README and keeps the others' latest
rows, so the section always shows every scenario's latest run.
"""

from __future__ import annotations

from typing import Any

HEAD = (
    "| scenario | events | expected | delivered | lost | duplicated (in window / outside) "
    "| sent after revocation | longest pause in deliveries | event → mail delay, median / worst |\n"
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
)


def scenario_line(r: dict[str, Any]) -> str:
    """One scenario's row."""
    return (
        f"| {r['scenario']} | {r['events']} | {r['expected']} | {r['delivered']} | {r['lost']} "
        f"| {r['duplicated_in_window']} / {r['duplicated_outside']} | {r['sent_after_revocation']} "
        f"| {r['outage_s']:.1f} s | {r['median_delay_s']:.2f} s / {r['worst_delay_s']:.1f} s |"
    )


def table(rows: list[dict[str, Any]]) -> str:
    """The printed result: one row per scenario, then the poison scenario's own tables if it ran."""
    poison = [poison_tables(r) for r in rows if "poison_topics" in r]
    return "\n\n".join(["\n".join([HEAD, *(scenario_line(r) for r in rows)]), *poison])


def readme_section(old: str, rows: list[dict[str, Any]], order: tuple[str, ...]) -> str:
    """The README's chaos section after a run: rows of the scenarios that ran replaced, the others kept.

    `old` is the section as it stands (the text between the markers); `order` is every scenario's name.
    """
    ran = {r["scenario"]: scenario_line(r) for r in rows}
    main, _, rest = old.strip().partition("\n\n")
    kept = {line.split("|")[1].strip(): line for line in main.splitlines()[2:] if line.startswith("| ")}
    lines = [ran.get(name) or kept.get(name) for name in order]
    poison = [poison_tables(r) for r in rows if r["scenario"] == "poison"] or ([rest] if rest else [])
    return "\n\n".join(["\n".join([HEAD, *(line for line in lines if line)]), *poison])


def _kinds(kinds: dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in kinds.items()) or "none"


def _seconds(value: float | None) -> str:
    return "never" if value is None or value != value else f"{value:.1f} s"


def poison_tables(row: dict[str, Any]) -> str:
    """Per poisoned topic, per service, and the verdict of one poison run."""
    topics = [
        "| poisoned topic | read by | records | in its DLQ with a reason, by every reader | "
        "dead letters by error kind | slowest dead letter |",
        "| --- | --- | --- | --- | --- | --- |",
        *(
            f"| {t['topic']} | {', '.join(t['readers'])} | {t['records']} | {t['complete']} / {t['records']} "
            f"| {_kinds(t['kinds'])} | {_seconds(t['slowest_s'])} |"
            for t in row["poison_topics"]
        ),
    ]
    services = [
        f"| service | committed past its poison | ready with zero lag (first time after the injection) "
        f"| longest not ready | ready while stalled (stall time {row['stall_after_s']:.0f} s) "
        "| stalled groups it reported | stuck at the end |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(
            f"| {h['service']} | {_seconds(h['past_poison_s'])} | {_seconds(h['recovered_s'])} "
            f"| {h['longest_not_ready_s']:.1f} s "
            f"| {h['falsely_ready']} probes | {', '.join(h['stalled_reasons']) or 'none'} "
            f"| {', '.join(h['stuck']) or 'none'} |"
            for h in row["services"]
        ),
    ]
    summary = " ".join(
        [
            f"{row['scenario'].capitalize()}: {row['poison_complete']} of {row['poison_records']} hostile records",
            "dead-lettered with a reason by every reader; the international address delivered",
            f"{row['idn_delivered']} of {row['idn_expected']}; mails to poison candidates: {row['poison_mails']};",
            f"worst event → mail delay {row['worst_delay_s']:.1f} s, {len(row['delayed'])} beyond",
            f"{row['delay_limit_s']:.0f} s;",
            *(  # runs before the connector joined the scenario have no such columns
                [
                    f"ATS candidates the connector linked: {row['connector_linked']}, "
                    f"notes it wrote: {row['connector_notes']};"
                ]
                if "connector_linked" in row
                else []
            ),
            f"problems: {len(row['problems'])}.",
        ]
    )
    return "\n".join([summary, "", *topics, "", *services])
