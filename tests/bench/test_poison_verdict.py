"""The poison verdict names what went wrong: which mail was lost or late, for whom, and everything else."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from bench.oracle import own_mails
from bench.poison import Poison, idn_events
from bench.poison_check import Injected, Outcome
from bench.poison_health import Health
from bench.poison_verdict import Evidence, Notes, verdict

T0 = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
FINE = [Health(s, 3.0, 1.0, 0, 0.0, 2.0, (), (), 0) for s in ("preference", "router", "notifier", "connectors")]
SENT = "- 2026-05-04 12:00 UTC - application message - sent by e-mail"
NOTES = Notes(("7001", "7002"), (("7001", f"Candidate communication\n{SENT}\nref: x"), ("7002", f"C\n{SENT}\nref: y")))


def event(n: int, candidate: str) -> dict[str, Any]:
    return {"id": f"w-e{n}", "type": "ats.stage.changed", "subject": candidate, "time": T0.isoformat(), "data": {}}


def receipt(ev: dict[str, Any], after_s: float, to: str = "kandidaat1@example.org") -> dict[str, Any]:
    [nid] = own_mails([ev])
    return {"notification_id": nid, "received_at": (T0 + timedelta(seconds=after_s)).isoformat(), "rcpt_tos": [to]}


def test_a_clean_run_has_no_problems() -> None:
    events = [event(1, "w.c1"), event(2, "w.c2")]
    idn = idn_events("w.", T0)
    for ev in idn:
        ev["time"] = T0.isoformat()
    receipts = [receipt(ev, 0.2) for ev in events + idn]
    evidence = Evidence(events + idn, idn, own_mails(events + idn), receipts, FINE, [], 0, NOTES)
    out = verdict(evidence, "w.", 5.0, 90.0)
    assert out["problems"] == []
    assert (out["idn_delivered"], out["idn_expected"], out["poison_mails"]) == (2, 2, 0)
    assert [s["ok"] for s in out["services"]] == [True, True, True, True]
    assert (out["connector_linked"], out["connector_notes"]) == (2, 2)


def test_every_problem_is_named() -> None:
    events = [event(1, "w.c1"), event(2, "w.c2"), event(3, "w.c3")]
    receipts = [receipt(events[0], 0.3), receipt(events[1], 7.5), receipt(events[0], 0.5, to="w.p0001@example.net")]
    poison = Poison("dispatch.sms", "deep_json", b"w.p2", b"[]", 1, frozenset({"notifier"}))
    missing = Outcome(Injected(poison, "w.dispatch.sms", 1, 4, T0), frozenset(), (), 0, 0, None)
    stuck = Health("router", None, None, 3, 40.0, 9.0, ("stalled:w.router",), ("w.router w.ats.accepted/2",), 0)
    doubled = Notes(("7001", "7002"), (("7001", f"C\n{SENT}\nref: x"), ("7001", f"C\n{SENT}\nref: z")))
    evidence = Evidence(events, [], own_mails(events), receipts, [FINE[0], stuck, FINE[3]], [missing], 2, doubled)
    out = verdict(evidence, "w.", 5.0, 90.0)
    assert out["problems"] == [
        "lost: w.c3 stage_update (event w-e3)",
        "delayed 7.5 s: w.c2 (event w-e2)",
        "deep_json on dispatch.sms (partition 1, offset 4): not dead-lettered by notifier",
        "router: not ready with zero lag within 90 s of the injection",
        "router: a group of it never committed past its poison records",
        "router: ready in 3 probe(s) while a partition of it was stalled",
        "router: stuck at the end: w.router w.ats.accepted/2",
        "connector: a line written 2 times on ATS candidate 7001",
        "connector: no note of the e-mail sent to ATS candidate 7002",
        "1 service(s) never answered a probe",
        "1 mail(s) sent to poison candidates",
        "2 record(s) on the DLQs without their origin headers",
    ]
    assert out["delayed"] == [{"candidate_id": "w.c2", "event_id": "w-e2", "seconds": 7.5}]
    assert out["poison_complete"] == 0 and out["poison_records"] == 1
