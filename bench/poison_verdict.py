"""The poison scenario's verdict: its columns of the row, and every problem said precisely. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from bench.oracle import event_delays, own_mails, owners
from bench.poison import SERVICES, poison_addresses
from bench.poison_check import Outcome, by_topic
from bench.poison_check import problems as dlq_problems
from bench.poison_health import Health
from bench.poison_health import problems as health_problems


@dataclass(frozen=True)
class Notes:
    """What the connector wrote back during the run: the ATS candidates linked, the notes its ATS received."""

    linked: tuple[str, ...] = ()  # Greenhouse candidate ids linked by webhook, before and after the poison
    bodies: tuple[tuple[str, str], ...] = ()  # (Greenhouse candidate id, note text), every note as received


def note_problems(notes: Notes) -> list[str]:
    """A linked candidate without the note of their mail, or a line written twice (nothing doubled)."""
    found = []
    for cid in notes.linked:
        lines = Counter(
            line for who, body in notes.bodies if who == cid for line in body.splitlines() if line.startswith("- ")
        )
        if not any("sent by e-mail" in line for line in lines):
            found.append(f"connector: no note of the e-mail sent to ATS candidate {cid}")
        found += [f"connector: a line written {n} times on ATS candidate {cid}" for n in lines.values() if n > 1]
    return found


@dataclass(frozen=True)
class Evidence:
    """What one poison run left behind."""

    events: list[dict[str, Any]]  # every ATS event of the run, the international candidate's included
    idn: list[dict[str, Any]]  # the international candidate's events
    expected: set[str]  # notification ids the oracle expects
    receipts: list[dict[str, Any]]  # the SMTP sink's index
    healths: list[Health]
    results: list[Outcome]
    unreadable: int  # DLQ records without their origin headers
    notes: Notes = Notes()


def verdict(e: Evidence, prefix: str, delay_limit_s: float, recover_limit_s: float) -> dict[str, Any]:
    """The poison columns of the row; `problems` lists what went wrong (lost and delayed mail by candidate)."""
    arrived = {m["notification_id"] for m in e.receipts}
    who = owners(e.events)
    late = [d for d in event_delays(e.events, e.receipts) if d.seconds > delay_limit_s]
    delayed = sorted(late, key=lambda d: -d.seconds)
    idn_mails = own_mails(e.idn)
    mails = poison_addresses(e.receipts, prefix)
    found = [
        *(f"lost: {who.get(nid, nid)}" for nid in sorted(e.expected - arrived)),
        *(f"delayed {d.seconds:.1f} s: {d.candidate_id} (event {d.event_id})" for d in delayed),
        *dlq_problems(e.results),
        *health_problems(e.healths, recover_limit_s),
        *note_problems(e.notes),
    ]
    if unanswered := len(SERVICES) - len(e.healths):
        found.append(f"{unanswered} service(s) never answered a probe")
    if mails:
        found.append(f"{mails} mail(s) sent to poison candidates")
    if e.unreadable:
        found.append(f"{e.unreadable} record(s) on the DLQs without their origin headers")
    slowest = sorted(e.results, key=lambda o: -(o.seconds or 0.0))[:5]
    return {
        "delay_limit_s": delay_limit_s,
        "delayed": [asdict(d) for d in delayed],
        "idn_delivered": len(idn_mails & arrived),
        "idn_expected": len(idn_mails),
        "poison_mails": mails,
        "poison_records": len(e.results),
        "poison_complete": sum(o.complete for o in e.results),
        "poison_topics": by_topic(e.results),
        "slowest_dead_letters": [
            {"topic": o.injected.poison.topic, "kind": o.injected.poison.kind, "seconds": o.seconds} for o in slowest
        ],
        "services": [asdict(h) | {"ok": h.ok} for h in e.healths],
        "connector_linked": len(e.notes.linked),
        "connector_notes": len(e.notes.bodies),
        "problems": found,
    }
