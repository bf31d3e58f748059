"""What recruiters see, shaped from the store's documents and the preference view (pure; used by API and pages)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas.common import Channel, PurposeClass
from schemas.consent import CHANNEL_INDEX, consent_state
from services.notifier.reach import Reach, consent_source

# In the order the page shows them: a candidate who asked for a person first.
KINDS = (
    "person_requested",
    "needs_recruiter",
    "silence",
    "unparsed_reply",
    "unattributed_reply",
    "call_task",
    "choice_not_honoured",
)
KIND_TITLES = {
    "person_requested": "Candidates who asked to talk to a person",
    "needs_recruiter": "Needs a recruiter",
    "silence": "Silent candidates",
    "unparsed_reply": "Replies to read",
    "unattributed_reply": "Replies from numbers we could not match to one candidate",
    "call_task": "Calls to make",
    "choice_not_honoured": "Choices we could not honour (e.g. WhatsApp without an approved template)",
}
KIND_CHANNELS = {"call_task": Channel.VOICE.value}  # kinds that always concern one channel
# The router's words when a candidate stayed silent, also after a follow-up (services/router/scheduler.py).
_SILENCE = re.compile(r"\bno reply within\b", re.IGNORECASE)


def is_silence(item: Mapping[str, Any]) -> bool:
    """A needs_recruiter item raised because the candidate did not answer."""
    return item.get("kind") == "needs_recruiter" and bool(_SILENCE.search(str(item.get("reason") or "")))


def notification_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """One notification of the timeline: what, where, why, and every state it went through."""
    rendered = doc.get("template") is not None
    return {
        "notification_id": doc["_id"],
        "application_id": doc.get("application_id"),
        "ats_event_id": doc.get("ats_event_id"),
        "channel": doc.get("channel"),
        "stage": doc.get("stage"),
        "attempt": doc.get("attempt", 1),
        "template": (
            {"name": doc["template"], "version": doc.get("template_version"), "language": doc.get("language")}
            if rendered
            else None
        ),
        "subject": doc.get("subject"),
        "body": doc.get("body"),
        "status": doc.get("status"),
        "history": [
            {"status": h.get("status"), "at": h.get("at"), "reason": h.get("reason", ""), "provider": h.get("provider")}
            for h in doc.get("history", [])
        ],
        "reasons": list(doc.get("reasons", [])),
        "created_at": doc.get("created_at"),
        "updated_at": doc.get("updated_at"),
    }


def preferences_view(reach: Reach | None) -> dict[str, Any] | None:
    """The candidate's current choices and consent, with who recorded each consent state."""
    if reach is None:
        return None
    channels = {}
    for channel in Channel:
        known = reach.address(channel) is not None
        channels[channel.value] = {
            "address_known": known,
            "address_valid": known and bool(reach.valid_bits >> CHANNEL_INDEX[channel] & 1),
            "consent": {
                purpose.value: {
                    "state": consent_state(reach.consent_bits, channel, purpose).value,
                    "source": (src.value if (src := consent_source(reach.consent_sources, channel, purpose)) else None),
                }
                for purpose in PurposeClass
            },
        }
    return {
        "version": reach.version,
        "language": reach.language,
        "channel_order": [c.value for c in reach.channel_order],
        "voicemail": reach.voicemail,
        "channels": channels,
    }


def with_channel(item: Mapping[str, Any], channel_of: Mapping[str, str | None]) -> Mapping[str, Any]:
    """The item with its channel; one stored before items carried it gets it by kind or from its notification."""
    if "channel" in item:
        return item
    known = KIND_CHANNELS.get(str(item.get("kind")))
    return {**item, "channel": known or channel_of.get(str(item.get("notification_id")))}


def work_item_view(item: Mapping[str, Any]) -> dict[str, Any]:
    """One worklist item as recruiters see it."""
    return {
        "id": item["_id"],
        "kind": item.get("kind"),
        "silence": is_silence(item),
        "candidate_id": item.get("candidate_id"),
        "application_id": item.get("application_id"),
        "notification_id": item.get("notification_id"),
        "stage": item.get("stage"),
        "channel": item.get("channel"),
        "reason": item.get("reason", ""),
        "details": item.get("details") or {},
        "created_at": item.get("created_at"),
        "handled_at": item.get("handled_at"),
        "handled_by": item.get("handled_by"),
    }


def worklist_view(items: Iterable[Mapping[str, Any]], kind: str | None = None) -> dict[str, Any]:
    """Items (of one kind, when asked), open counts per kind and silent candidates per stage.

    `silence` is a subset of `needs_recruiter`: asking for needs_recruiter includes the silent ones.
    """
    every = list(items)
    chosen = [i for i in every if kind is None or i.get("kind") == kind or (kind == "silence" and is_silence(i))]
    still_open = [i for i in every if i.get("handled_at") is None]
    counts = Counter(str(i.get("kind")) for i in still_open)
    silence = Counter(str(i.get("stage")) for i in still_open if is_silence(i))
    counts["silence"] = sum(silence.values())
    return {
        "items": [work_item_view(i) for i in chosen],
        "counts": {k: counts.get(k, 0) for k in (*KINDS, *sorted(set(counts) - set(KINDS)))},
        "silence_by_stage": dict(sorted(silence.items())),
    }


def grouped(items: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    """Open items grouped by kind, in a fixed order (kind, title, items)."""
    groups: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    for item in items:
        kind = "silence" if is_silence(item) else str(item.get("kind"))
        groups.setdefault(kind, []).append(work_item_view(item))
    return [(k, KIND_TITLES.get(k, k.replace("_", " ")), v) for k, v in groups.items()]


def choices_summary(reach: Reach | None) -> list[tuple[str, str]]:
    """The candidate's current choices in a few labelled lines, for beside a request (empty when unknown)."""
    if reach is None:
        return []
    view = preferences_view(reach) or {}
    granted, revoked, missing = [], [], []
    for name, c in view["channels"].items():
        state = c["consent"][PurposeClass.APPLICATION.value]
        if state["state"] == "granted":
            granted.append(f"{name} ({state['source'] or 'unknown source'})")
        elif state["state"] == "revoked":
            revoked.append(name)
        if not c["address_valid"]:
            missing.append(name)
    return [
        ("Channel order", ", ".join(view["channel_order"]) or "none chosen"),
        ("Consent granted", ", ".join(granted) or "none (e-mail and portal may still carry own-application news)"),
        ("Switched off", ", ".join(revoked) or "nothing"),
        ("No working address", ", ".join(missing) or "none"),
        ("Language", str(view["language"])),
        ("Voicemail", "yes" if view["voicemail"] else "no"),
        ("Preference version", str(view["version"])),
    ]
