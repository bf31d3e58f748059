"""The chaos oracle: what a script must deliver, reconciled against the SMTP sink's raw receipts.

The oracle does not read the services' records: from the script and the contract's id rule
(schemas.ids, UUIDv5 of event id + purpose + channel + attempt) it knows which e-mail every ATS
event must produce, including interview reminders that fall due during the run. Pure functions only.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from bench.generator import candidate
from schemas.ids import notification_id

TEMPLATE = {
    "ats.application.received": "application_received",
    "ats.stage.changed": "stage_update",
    "ats.interview.scheduled": "interview_invite",
}


@dataclass(frozen=True)
class Reminders:
    """When the scripted interviews' 2-hour reminders fall due: `first_s` after the script, spread over `spread_s`."""

    first_s: int = 40
    spread_s: int = 30


DEFAULT_REMINDERS = Reminders()


def _data(cand: dict[str, Any]) -> dict[str, Any]:
    return {"candidate": cand, "application": {"id": f"app-{cand['id']}", "job_title": "Monteur", "stage": "screening"}}


def script(
    prefix: str, count: int, now: datetime, reminders: Reminders = DEFAULT_REMINDERS
) -> tuple[list[dict[str, Any]], set[str], list[str]]:
    """Events, the notification ids they must produce, and the candidates who revoke e-mail first."""
    rng = random.Random(13)
    people = [candidate(i, rng, prefix) for i in range(max(10, count // 3))]
    revokers = [p["id"] for p in people[:3]]
    events, expected = [], set()
    for n in range(count):
        cand = people[n % len(people)]
        kind = (
            "ats.application.received"
            if n < len(people)
            else rng.choice(["ats.stage.changed", "ats.interview.scheduled"])
        )
        data = _data(cand)
        ev_id = f"{prefix}-e{n}"
        if kind == "ats.interview.scheduled":
            # Two hours and a bit ahead: the 2-hour reminder falls due during the run.
            start = now + timedelta(hours=2, seconds=reminders.first_s + n % reminders.spread_s)
            data["interview"] = {
                "id": f"iv-{n}",
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
                "location": "Utrecht",
            }
            if cand["id"] not in revokers:
                expected.add(notification_id(ev_id, f"reminder:iv-{n}:2h", 1))
        events.append(
            {
                "specversion": "1.0",
                "id": ev_id,
                "source": "urn:chaos",
                "type": kind,
                "time": "",
                "subject": cand["id"],
                "data": data,
            }
        )
        if cand["id"] not in revokers:
            expected.add(notification_id(ev_id, TEMPLATE[kind], 1))
    return events, expected, revokers


def own_mails(events: list[dict[str, Any]]) -> set[str]:
    """The notification ids of the e-mails the events themselves cause (no reminders)."""
    return {notification_id(ev["id"], TEMPLATE[ev["type"]], 1) for ev in events}


def owners(events: list[dict[str, Any]]) -> dict[str, str]:
    """notification id -> "<candidate> <purpose> (event <id>)", for saying precisely which mail is missing."""
    out = {}
    for ev in events:
        purposes = [TEMPLATE[ev["type"]]]
        if "interview" in ev["data"]:
            purposes.append(f"reminder:{ev['data']['interview']['id']}:2h")
        for purpose in purposes:
            out[notification_id(ev["id"], purpose, 1)] = f"{ev['subject']} {purpose} (event {ev['id']})"
    return out


def reconcile(
    name: str,
    events: list[dict[str, Any]],
    expected: set[str],
    revokers: list[str],
    first_events: list[str],
    receipts: list[dict[str, Any]],
    in_window: int,
    recovery_s: float,
) -> dict[str, Any]:
    """Lost, duplicated (in window / outside), sent to revoked candidates."""
    counts = Counter(m["notification_id"] for m in receipts)
    revoked_addresses = {f"kandidaat{int(c[-7:])}@example.org" for c in revokers}
    # A revoker's first event (their application) was sent before they revoked: that e-mail is allowed.
    allowed = {notification_id(e, "application_received", 1) for e in first_events}
    dups = sum(n - 1 for nid, n in counts.items() if nid in expected and n > 1)
    window = min(dups, in_window)
    return {
        "scenario": name,
        "events": len(events),
        "expected": len(expected),
        "delivered": len(expected & set(counts)),
        "lost": len(expected - set(counts)),
        "duplicated_in_window": window,
        "duplicated_outside": dups - window,
        "sent_after_revocation": sum(
            1 for m in receipts if set(m["rcpt_tos"]) & revoked_addresses and m["notification_id"] not in allowed
        ),
        "recovery_s": recovery_s,
    }


@dataclass(frozen=True)
class Delay:
    """How long one event-driven e-mail took from its ATS event to the sink (its first receipt)."""

    candidate_id: str
    event_id: str
    seconds: float


def event_delays(events: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> list[Delay]:
    """Event → first receipt of its e-mail, for the events whose e-mail arrived (reminders excluded)."""
    by_nid = {notification_id(ev["id"], TEMPLATE[ev["type"]], 1): ev for ev in events}
    first: dict[str, datetime] = {}
    for m in receipts:
        nid = m["notification_id"]
        if nid in by_nid and nid not in first:
            first[nid] = datetime.fromisoformat(m["received_at"])
    return [
        Delay(
            by_nid[nid]["subject"],
            by_nid[nid]["id"],
            (at - datetime.fromisoformat(by_nid[nid]["time"])).total_seconds(),
        )
        for nid, at in first.items()
    ]


def driven_receipts(events: list[dict[str, Any]], receipts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The receipts of the events' own e-mails (the steady stream, without scripted reminders)."""
    nids = own_mails(events)
    return [m for m in receipts if m["notification_id"] in nids]


def longest_pause(receipts: list[dict[str, Any]], since: datetime) -> float:
    """The longest time without any delivery after the fault (how long the pipeline stood still).

    Give it the mails of the steady stream only: between its end and scripted reminders there is
    nothing to deliver, which is not a pause.
    """
    stamps = sorted(datetime.fromisoformat(m["received_at"]) for m in receipts)
    after = [since, *(t for t in stamps if t > since)]
    return max(((b - a).total_seconds() for a, b in pairwise(after)), default=0.0)


def timing(events: list[dict[str, Any]], receipts: list[dict[str, Any]], fault_wall: datetime) -> dict[str, float]:
    """Longest pause after the fault, median and worst event → mail delay of the steady stream."""
    delays = sorted(d.seconds for d in event_delays(events, receipts))
    return {
        "outage_s": longest_pause(driven_receipts(events, receipts), fault_wall),
        "worst_delay_s": delays[-1] if delays else float("nan"),
        "median_delay_s": delays[len(delays) // 2] if delays else float("nan"),
    }
