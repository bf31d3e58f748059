"""Canary values for the leak test, and the search for them in logs, dead-letter headers and metrics."""

from __future__ import annotations

import json
import random
import uuid
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from tests.processes import ServiceProcess


def canary_phone(ending: str) -> str:
    """A Dutch mobile number nobody else uses in this run, with a given ending (the emulator reacts to it)."""
    return "+3162" + "".join(random.choices("0123456789", k=3)) + ending  # 06-2... is a mobile range


class Canaries:
    """The values that must never show up, and the strings to search for."""

    def __init__(self, unique: str) -> None:
        tag = uuid.uuid4().hex[:12]
        self.email = f"bounce-canary-{tag}@example.org"  # the SMTP sink refuses bounce-* with 550
        self.phone = canary_phone("1234")  # accepted and delivered by the emulator
        self.quoted_phone = canary_phone("0001")  # refused with 400, the error text quoting the number
        self.ats_email = f"ats-canary-{tag}@example.org"  # arrives in a Greenhouse webhook at the connector
        self.ats_phone = canary_phone("5678")
        self.secrets = {
            name: f"canary-{name}-{tag}"
            for name in (
                "api-key",
                "link-secret",
                "suppression",
                "session",
                "twilio-token",
                "portal",
                "webhook-secret",
                "ats-api-key",
            )
        }
        self.candidate, self.quoted_candidate = f"{unique}-canary", f"{unique}-quoted"
        self.link_tokens: list[str] = []

    def needles(self) -> dict[str, str]:
        """What to search for, by what it is."""
        found = {"e-mail local part": self.email.split("@")[0], "ATS e-mail local part": self.ats_email.split("@")[0]}
        found |= {f"phone {p}": p.lstrip("+") for p in (self.phone, self.quoted_phone, self.ats_phone)}
        found |= {f"secret {k}": v for k, v in self.secrets.items()}
        found |= {f"link token {n}": t for n, t in enumerate(self.link_tokens)}
        return found

    def env(self) -> dict[str, dict[str, str]]:
        """The secret settings of each service, set to canaries."""
        s, keys = self.secrets, json.dumps([self.secrets["api-key"]])
        return {
            "preference": {
                "PREFERENCE_API_KEYS": keys,
                "PREFERENCE_LINK_SECRET": s["link-secret"],
                "PREFERENCE_SUPPRESSION_SECRET": s["suppression"],
            },
            "router": {},
            "notifier": {
                "NOTIFIER_API_KEYS": keys,
                "NOTIFIER_LINK_SECRET": s["link-secret"],
                "NOTIFIER_SESSION_SECRET": s["session"],
                "NOTIFIER_TWILIO_AUTH_TOKEN": s["twilio-token"],
                "NOTIFIER_PORTAL_SECRET": s["portal"],
                "NOTIFIER_RETRY_MAX_S": "0.2",
            },
            "connectors": {
                "CONNECTORS_CONNECTIONS__GREENHOUSE__SECRET": s["webhook-secret"],
                "CONNECTORS_CONNECTIONS__GREENHOUSE__API_KEY": s["ats-api-key"],
            },
        }


def link_tokens(messages: list[dict[str, Any]]) -> list[str]:
    """The self-service link tokens in the messages the provider received."""
    bodies = [str(m.get("body", "")) for m in messages]
    return [word.split("/s/", 1)[1].rstrip(".,)") for b in bodies for word in b.split() if "/s/" in word]


def label_values(text: str) -> set[str]:
    """Every label value in an exposition."""
    return {v for family in text_string_to_metric_families(text) for s in family.samples for v in s.labels.values()}


def find_leaks(
    c: Canaries, procs: dict[str, ServiceProcess], headers: list[tuple[str, str]], metrics: dict[str, str]
) -> list[str]:
    """Where each canary showed up (empty: nowhere)."""
    places = {f"log of {name}": p.log.read_text(errors="replace") for name, p in procs.items()}
    places |= {f"DLQ header on {topic}: {h.split('=')[0]}": h for topic, h in headers}
    places |= {f"/metrics of {name}": text for name, text in metrics.items()}
    places |= {f"metric label values of {name}": "\n".join(label_values(text)) for name, text in metrics.items()}
    needles = c.needles().items()
    return [f"{what} in {where}" for what, needle in needles for where, text in places.items() if needle in text]
