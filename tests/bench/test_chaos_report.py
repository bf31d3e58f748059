"""The chaos oracle's timing and the README section: a partial run refreshes its rows and keeps the rest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.chaos import SCENARIOS, failed
from bench.chaos_report import HEAD, readme_section, scenario_line, table
from bench.oracle import Reminders, event_delays, own_mails, owners, script
from schemas.ids import notification_id

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)


def row(name: str, lost: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "scenario": name,
        "events": 59,
        "expected": 67,
        "delivered": 67 - lost,
        "lost": lost,
        "duplicated_in_window": 0,
        "duplicated_outside": 0,
        "sent_after_revocation": 0,
        "outage_s": 0.7,
        "median_delay_s": 0.17,
        "worst_delay_s": 0.7,
        **extra,
    }


def poison_row(**extra: Any) -> dict[str, Any]:
    return (
        row("poison")
        | {
            "delay_limit_s": 5.0,
            "delayed": [],
            "idn_delivered": 2,
            "idn_expected": 2,
            "poison_mails": 0,
            "poison_records": 80,
            "poison_complete": 80,
            "poison_topics": [
                {
                    "topic": "ats.events",
                    "readers": ["preference"],
                    "records": 8,
                    "complete": 8,
                    "kinds": {"invalid_data": 3, "malformed_json": 3},
                    "slowest_s": 0.3,
                }
            ],
            "services": [
                {
                    "service": "router",
                    "past_poison_s": 0.6,
                    "recovered_s": 5.2,
                    "longest_not_ready_s": 0.0,
                    "falsely_ready": 0,
                    "stalled_reasons": [],
                    "stuck": [],
                }
            ],
            "stall_after_s": 10.0,
            "problems": [],
        }
        | extra
    )


def test_a_partial_run_replaces_its_rows_and_keeps_the_others() -> None:
    old = "\n" + "\n".join([HEAD, scenario_line(row("kill-router")), scenario_line(row("restart-kafka"))]) + "\n"
    new = readme_section(old, [row("kill-router", lost=1), poison_row()], SCENARIOS)
    main, poison = new.split("\n\n", 1)
    lines = main.splitlines()
    assert lines[:2] == HEAD.splitlines()
    assert [line.split("|")[1].strip() for line in lines[2:]] == ["kill-router", "restart-kafka", "poison"]
    assert "| kill-router | 59 | 67 | 66 | 1 |" in lines[2]  # the new figures
    assert poison.startswith("Poison: 80 of 80 hostile records")
    assert "| ats.events | preference | 8 | 8 / 8 | invalid_data 3, malformed_json 3 | 0.3 s |" in poison
    assert "| router | 0.6 s | 5.2 s | 0.0 s | 0 probes | none | none |" in poison
    # A later run without the poison scenario keeps the poison tables of the last one.
    again = readme_section(new, [row("restart-kafka", lost=2)], SCENARIOS)
    assert again.split("\n\n", 1)[1] == poison
    assert "| restart-kafka | 59 | 67 | 65 | 2 |" in again


def test_the_printed_table_shows_what_ran() -> None:
    printed = table([row("kill-notifier"), poison_row(services=[])])
    assert printed.count("| kill-notifier |") == 1 and "| poison |" in printed
    assert "Poison: 80 of 80" in printed
    assert "Poison" not in table([row("kill-notifier")])


def test_a_scenario_fails_on_loss_or_on_any_problem_it_found() -> None:
    assert not failed(row("kill-router"))
    assert failed(row("kill-router", lost=1))
    assert failed(poison_row(problems=["lost: c1 stage_update (event e1)"]))
    assert not failed(poison_row())


def test_delays_count_from_the_event_to_its_first_receipt() -> None:
    events, _, _ = script("w", 12, T0, Reminders(8, 8))
    ev = events[5]
    ev["time"] = T0.isoformat()
    nid = next(iter(own_mails([ev])))
    receipts = [
        {"notification_id": nid, "received_at": (T0 + timedelta(seconds=1.5)).isoformat()},
        {"notification_id": nid, "received_at": (T0 + timedelta(seconds=9)).isoformat()},  # a resend
        {"notification_id": "unrelated", "received_at": T0.isoformat()},
    ]
    [delay] = event_delays([ev], receipts)
    assert (delay.candidate_id, delay.event_id, delay.seconds) == (ev["subject"], ev["id"], 1.5)


def test_owners_name_every_expected_mail() -> None:
    events, expected, _revokers = script("w", 30, T0, Reminders(8, 8))
    who = owners(events)
    assert expected <= set(who)  # every expected mail can be named when it is lost
    interview = next(e for e in events if e["type"] == "ats.interview.scheduled")
    reminder = notification_id(interview["id"], f"reminder:{interview['data']['interview']['id']}:2h", 1)
    assert who[reminder] == f"{interview['subject']} reminder:{interview['data']['interview']['id']}:2h " + (
        f"(event {interview['id']})"
    )
    starts = [
        datetime.fromisoformat(e["data"]["interview"]["start"]) - T0
        for e in events
        if e["type"] == "ats.interview.scheduled"
    ]
    assert all(timedelta(hours=2, seconds=8) <= s < timedelta(hours=2, seconds=16) for s in starts)
