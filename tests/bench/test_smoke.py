"""Smoke runs of `make bench` and `make chaos` (small numbers), so neither can rot unnoticed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.local.components import LocalStackSettings

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run(module: str, *args: str, ok: tuple[int, ...] = (0,)) -> None:
    """Run a harness module; on an unexpected exit show the end of what it printed."""
    done = subprocess.run(
        [sys.executable, "-m", module, *args], cwd=ROOT, timeout=600, capture_output=True, text=True, check=False
    )
    assert done.returncode in ok, f"{module} exited {done.returncode}:\n{(done.stdout + done.stderr)[-4000:]}"


@pytest.mark.timeout(660)
def test_bench_quick_measures_every_stage(local_stack: LocalStackSettings, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    run("bench", "--quick", "--out", str(out))
    r = json.loads(out.read_text())
    assert r["baseline"]["per_s"] > 0
    assert r["pipeline"]["out_per_s"] > 0 and r["pipeline"]["in_per_s"] > 0
    assert r["router"]["per_s"] > 0 and r["notifier"]["per_s"] > 0 and r["preference"]["per_s"] > 0
    # The notifier alone really sent (a refused command also ends in a status, so statuses alone prove nothing).
    assert r["notifier"]["mails"] == r["notifier"]["events"]
    assert r["database"]["batched_inserts_per_s"] > r["database"]["serial_inserts_per_s"] > 0
    assert r["latency"]["p50_ms"] > 0 and r["preference_api"]["p99_ms"] > 0
    assert r["latency"]["sent"] == r["latency"]["events"]  # every event of the steady stream arrived
    assert r["memory"]["candidates"] == r["sizes"]["memory"]
    assert r["memory"]["bytes_per_candidate"] > 0
    cpu = r["pipeline"]["cpu_ms_per_delivery"]  # the profile evidence: where each delivery's CPU goes
    assert {"kafka", "ferretdb", "preference", "router", "notifier", "driver"} <= set(cpu)
    assert all(ms >= 0 for ms in cpu.values()) and sum(cpu.values()) > 0
    assert r["pipeline"]["preference_changes"] >= 0


@pytest.mark.timeout(660)
def test_chaos_kill_notifier_loses_and_doubles_nothing(local_stack: LocalStackSettings, tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    # Exit 1 means something was lost or doubled: the assertions below say what.
    run("bench.chaos", "--only", "kill-notifier", "--events", "90", "--rate", "15", "--out", str(out), ok=(0, 1))
    [row] = json.loads(out.read_text())
    assert row["expected"] > row["events"] // 2
    assert row["lost"] == 0
    assert row["duplicated_outside"] == 0
    assert row["sent_after_revocation"] == 0
    assert row["worst_delay_s"] >= row["median_delay_s"] > 0


@pytest.mark.timeout(300)
def test_chaos_poison_is_dead_lettered_and_nothing_else_suffers(
    local_stack: LocalStackSettings, tmp_path: Path
) -> None:
    out = tmp_path / "chaos.json"
    args = ("--only", "poison", "--events", "60", "--rate", "15", "--reminders-at", "12", "--out", str(out))
    # Exit 1 means the scenario found a problem: the first assertion shows every one of them.
    run("bench.chaos", *args, ok=(0, 1))
    [row] = json.loads(out.read_text())
    assert row["problems"] == []
    assert row["lost"] == 0 and row["duplicated_outside"] == 0 and row["sent_after_revocation"] == 0
    assert row["expected"] > row["events"] // 2
    # Every topic a service reads was poisoned, every record reached every reader's DLQ with a reason.
    assert {t["topic"] for t in row["poison_topics"]} >= {"ats.events", "ats.accepted", "preferences.changed"}
    assert len(row["poison_topics"]) == 11
    assert row["poison_complete"] == row["poison_records"] >= 80
    assert row["idn_delivered"] == row["idn_expected"] == 2
    assert row["poison_mails"] == 0
    assert row["worst_delay_s"] <= row["delay_limit_s"] and row["delayed"] == []
    assert [s["service"] for s in row["services"]] == ["preference", "router", "notifier", "connectors"]
    # The connector kept writing notes: the candidates linked before and after the poison each got theirs.
    assert row["connector_linked"] == 4 and row["connector_notes"] >= 4
    for service in row["services"]:
        assert service["ok"] and service["falsely_ready"] == 0 and service["stuck"] == []
        assert service["recovered_s"] is not None and service["past_poison_s"] is not None
