"""Realistic ATS traffic for N candidates: applications, stage changes, interviews, outcomes, free messages.

Deterministic for a seed, so two runs (and the chaos oracle) see the same script. Every event is
valid; each one yields exactly one immediate delivery for a candidate who keeps the default
preferences (interviews also schedule reminders, which are not deliveries during a run).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

JOBS = ("Data engineer", "Verpleegkundige", "Accountmanager", "Monteur", "UX designer", "Docent Engels")
STAGES = ("screening", "assessment", "interview", "offer")
CITIES = ("Utrecht", "Amsterdam", "Rotterdam", "Eindhoven", "Groningen")


@dataclass(frozen=True)
class Scripted:
    """One event of the script and what it must lead to."""

    key: str
    value: bytes
    event_id: str
    candidate_id: str
    deliveries: int  # immediate deliveries expected for a default candidate


def candidate(i: int, rng: random.Random, prefix: str) -> dict[str, Any]:
    """Contact data of candidate i."""
    return {
        "id": f"{prefix}c{i:07d}",
        "name": f"Kandidaat {i}",
        "email": f"kandidaat{i}@example.org",
        "phone": f"+316{rng.randint(1, 5)}{rng.randrange(1_000_000, 9_999_999)}",
        "locale": rng.choice(("nl-NL", "nl", "en-GB")),
        "timezone": "Europe/Amsterdam",
        "opt_ins": ["sms"] if rng.random() < 0.3 else [],
    }


def _event(kind: str, cand: dict[str, Any], now: datetime, rng: random.Random, **data: Any) -> dict[str, Any]:
    body = {
        "candidate": cand,
        "application": {
            "id": f"app-{cand['id']}",
            "job_title": rng.choice(JOBS),
            "stage": data.pop("stage", "applied"),
        },
        **data,
    }
    return {
        "specversion": "1.0",
        "id": str(uuid.UUID(int=rng.getrandbits(128))),
        "source": "urn:bench:ats",
        "type": kind,
        "time": now.isoformat(),
        "subject": cand["id"],
        "datacontenttype": "application/json",
        "data": body,
    }


def events(
    count: int, candidates: int, seed: int = 7, prefix: str = "", now: datetime | None = None
) -> Iterator[Scripted]:
    """`count` events over `candidates` candidates: first an application each, then a realistic mix."""
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    # Contact data depends on the candidate alone, so scripts with other seeds meet the same people.
    people = [candidate(i, random.Random(i), prefix) for i in range(candidates)]
    for n in range(count):
        cand = people[n % candidates] if n < candidates else rng.choice(people)
        if n < candidates:
            ev = _event("ats.application.received", cand, now, rng)
        else:
            roll = rng.random()
            if roll < 0.45:
                ev = _event("ats.stage.changed", cand, now, rng, stage=rng.choice(STAGES))
            elif roll < 0.7:
                start = (now + timedelta(days=rng.randint(3, 14))).replace(minute=0, second=0, microsecond=0)
                ev = _event(
                    "ats.interview.scheduled",
                    cand,
                    now,
                    rng,
                    stage="interview",
                    interview={
                        "id": f"iv-{cand['id']}-{n}",
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=1)).isoformat(),
                        "location": rng.choice(CITIES),
                    },
                )
            elif roll < 0.85:
                ev = _event(
                    "ats.message.requested",
                    cand,
                    now,
                    rng,
                    message={"subject": "Even bijpraten", "body": "Heb je deze week tijd voor een belletje?"},
                )
            else:
                ev = _event("ats.candidate.rejected", cand, now, rng, stage="rejected")
        yield Scripted(cand["id"], json.dumps(ev).encode(), ev["id"], cand["id"], 1)
