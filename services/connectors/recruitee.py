"""Recruitee (Tellent): its webhooks in, candidate notes out.

Documents followed (https://docs.recruitee.com/docs/webhooks and the API reference at https://docs.recruitee.com):
- Every request carries ``X-Recruitee-Signature``: the hex HMAC-SHA256 of the raw body under the webhook's
  secret. The Test button sends ``{"test": true}`` (the "Test payload" buttons add an example event to it):
  both are answered 200 and produce nothing. No time is signed, so replays are stopped by the event id.
- An event is ``{"id", "attempt_count", "created_at", "event_type", "event_subtype", "payload"}``; ``id`` is
  our dedupe key. Mapped: ``new_candidate`` (application received), ``candidate_moved`` with subtype
  ``stage_changed`` (stage changed; a move into a stage of category ``hire`` is a hire) and
  ``candidate_disqualified`` (rejected). The payload carries ``candidate`` (``emails[]``, ``phones[]``),
  ``offer`` or ``offers[]`` (the job), ``placement`` where there is one, and ``details.to_stage``.
- Notes: POST /c/{company_id}/candidates/{id}/notes with ``{"note": {"body": ...}}`` and a Bearer token.
  The API answers 429 above its limit; we pace at 60 requests a minute and honour Retry-After. They are
  listed by GET /c/{company_id}/candidates/{id}/notes (https://api.recruitee.com/docs/index.html#note.web.note
  -note.web.note: ``{"notes": [{"body", ...}]}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from services.connectors.adapters import (
    AtsApi,
    CandidateFacts,
    Headers,
    NoteTarget,
    Occurrence,
    Ping,
    RateLimit,
    Rejected,
    WebhookItem,
    check_body_hmac,
    register,
    texts_of,
)
from services.connectors.webhook_json import load_object, obj, optional_text, text, timestamp

_KINDS = {
    ("new_candidate", None): "ats.application.received",
    ("candidate_moved", "stage_changed"): "ats.stage.changed",
    ("candidate_disqualified", None): "ats.candidate.rejected",
}


class Recruitee:
    """The Recruitee adapter (see the module docstring for the documents it follows)."""

    name = "recruitee"
    limits = RateLimit(requests=60, per_seconds=60.0)
    doc_url = "https://docs.recruitee.com/docs/webhooks"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """A personal API token as a Bearer token."""
        return {"Authorization": f"Bearer {api_key}"}

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None:
        """X-Recruitee-Signature: hex HMAC-SHA256 of the raw body."""
        check_body_hmac(headers.get("x-recruitee-signature"), secret, body)

    def parse(self, headers: Headers, body: bytes) -> Ping | list[WebhookItem]:
        """The test request, or the one event of the delivery keyed by its id."""
        doc = load_object(body)
        if doc.get("test") is True:
            return Ping("recruitee test request")
        event_type = text(doc, "event_type")
        subtype = optional_text(doc, "event_subtype")
        kind = f"{event_type}/{subtype}" if (event_type, subtype) in _KINDS else event_type
        if (event_type, subtype) not in _KINDS and (event_type, None) not in _KINDS:
            raise Rejected("unknown_event_type", f"{event_type}/{subtype}"[:64])
        return [
            WebhookItem(
                event_id=text(doc, "id"),
                kind=kind,
                payload=obj(doc, "payload"),
                occurred_at=timestamp(doc.get("created_at")),
            )
        ]

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """Everything Recruitee sends is in the payload: no fetch needed."""
        event_type, _, subtype = item.kind.partition("/")
        kind = _KINDS.get((event_type, subtype or None)) or _KINDS[(event_type, None)]
        payload = item.payload
        candidate = obj(payload, "candidate")
        offer = _offer(payload)
        to_stage = (payload.get("details") or {}).get("to_stage") if isinstance(payload.get("details"), dict) else None
        from_stage = (
            (payload.get("details") or {}).get("from_stage") if isinstance(payload.get("details"), dict) else None
        )
        if kind == "ats.stage.changed" and not isinstance(to_stage, dict):
            raise Rejected("invalid_payload", "details.to_stage is missing")
        if isinstance(to_stage, dict) and to_stage.get("category") == "hire":
            kind = "ats.candidate.hired"
        stage = _stage_name(kind, to_stage)
        candidate_id = text(candidate, "id")
        placement = payload.get("placement")
        offer_id = optional_text(offer, "id") or "-"
        application_id = (
            text(placement, "id")
            if isinstance(placement, dict) and placement.get("id")
            else f"{candidate_id}-{offer_id}"
        )
        return [
            Occurrence(
                type=kind,
                candidate=CandidateFacts(
                    ats_id=candidate_id,
                    name=text(candidate, "name", default=""),
                    email=_first(candidate.get("emails")),
                    phone=_first(candidate.get("phones")),
                ),
                application_id=application_id,
                job_title=optional_text(offer, "title") or "-",
                stage=stage,
                previous_stage=optional_text(from_stage, "name") if isinstance(from_stage, dict) else None,
                time=item.occurred_at or datetime.now(UTC),
                note_target=NoteTarget(candidate_id=candidate_id, application_id=application_id),
            )
        ]

    async def write_note(self, api: AtsApi, target: NoteTarget, text: str) -> None:
        """A note on the candidate in the connection's company."""
        company = api.options.get("company_id", "")
        await api.request("POST", f"/c/{company}/candidates/{target.candidate_id}/notes", json={"note": {"body": text}})

    async def note_texts(self, api: AtsApi, target: NoteTarget) -> list[str]:
        """The bodies of the candidate's notes in the connection's company."""
        company = api.options.get("company_id", "")
        found = await api.request("GET", f"/c/{company}/candidates/{target.candidate_id}/notes")
        return texts_of(found.get("notes") if isinstance(found, dict) else None, "body")


def _offer(payload: Mapping[str, Any]) -> Mapping[str, Any]:
    """The job: `offer`, else the first of `offers` (empty when neither is there)."""
    if isinstance(payload.get("offer"), dict):
        offer: Mapping[str, Any] = payload["offer"]
        return offer
    offers = [o for o in payload.get("offers") or [] if isinstance(o, dict)]
    return offers[0] if offers else {}


def _stage_name(kind: str, to_stage: Any) -> str:
    if isinstance(to_stage, dict) and isinstance(to_stage.get("name"), str) and to_stage["name"]:
        return str(to_stage["name"])
    return {"ats.candidate.rejected": "Disqualified", "ats.application.received": "Applied"}.get(kind, "Hired")


def _first(values: Any) -> str | None:
    """The first non-empty string of a list (Recruitee lists addresses and numbers as plain strings)."""
    if not isinstance(values, list):
        return None
    return next((v for v in values if isinstance(v, str) and v), None)


ADAPTER = register(Recruitee())
