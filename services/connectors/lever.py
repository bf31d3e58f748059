"""Lever: its webhooks in (ids only; the rest is read from the Lever API), notes on the opportunity out.

Documents followed (https://hire.lever.co/developer/documentation, sections Webhooks, Authentication, Rate
Limits, Opportunities, Interviews, Archive Reasons, Postings, Notes):
- A delivery is the JSON body ``{"event", "triggeredAt" (epoch ms), "token", "signature", "data"}``. The
  signature is the hex HMAC-SHA256 of ``token + triggeredAt`` under the webhook's signature token: it covers
  those two values, not ``data``. So the token (48 random characters, signed) is our dedupe key, as the
  document suggests against replays, and ``triggeredAt`` must be recent (REPLAY_WINDOW, CLOCK_SKEW).
  Lever generates a signature token per webhook, i.e. per event type: ``signed_event`` reads the delivery's
  ``event`` so the intake checks it with that type's token (the connection's SIGNATURE_TOKENS).
- The test button sends ``data: {}`` (answered 200, nothing produced). ``data`` carries ids only
  (opportunityId, contactId, toStageId, interviewId, toArchived.reason ...): everything a message needs
  is fetched (see lever_fetch.py) with basic auth, the API key as user name. Lever allows 10 requests a
  second per key (bursts to 20): we pace at 10.
- Mapped: applicationCreated, candidateStageChange, candidateHired, candidateArchiveChange (archived for a
  reason of type non-hired: rejected; hired and unarchive: nothing), interviewCreated/Updated/Deleted.
  Known and producing nothing: candidateDeleted, contactCreated, contactUpdated.
- Notes: POST /opportunities/{id}/notes with ``{"value": ...}``, on behalf of ``options.perform_as`` if set;
  listed by GET /opportunities/{id}/notes (section "List all notes": ``{"data": [note], "hasNext", "next"}``,
  a note's text in ``fields[].value``, pages by ``limit`` and ``offset`` = the previous page's ``next``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from services.connectors.adapters import (
    NOTE_PAGES,
    AtsApi,
    FetchFailed,
    Headers,
    NoteTarget,
    Occurrence,
    Ping,
    RateLimit,
    Rejected,
    WebhookItem,
    basic_auth,
    register,
    same_signature,
    texts_of,
)
from services.connectors.lever_fetch import (
    archive_reason_type,
    fetch_interview,
    fetch_opportunity,
    occurrence_of,
)
from services.connectors.webhook_json import load_object, obj, optional_text, text

# Lever retries a failed delivery five times with growing pauses (and "Rerun" resends a stored request):
# the window must cover those; the dedupe of tokens stops replays inside it.
REPLAY_WINDOW = timedelta(hours=24)
CLOCK_SKEW = timedelta(minutes=5)

_MAPPED = {
    "applicationCreated": "ats.application.received",
    "candidateStageChange": "ats.stage.changed",
    "candidateHired": "ats.candidate.hired",
    "candidateArchiveChange": "ats.candidate.rejected",
    "interviewCreated": "ats.interview.scheduled",
    "interviewUpdated": "ats.interview.rescheduled",
    "interviewDeleted": "ats.interview.cancelled",
}
_NOTHING = frozenset({"candidateDeleted", "contactCreated", "contactUpdated"})


def lever_signature(signature_token: str, token: str, triggered_at: int | str) -> str:
    """What Lever puts in `signature`: hex HMAC-SHA256 of token + triggeredAt under the signature token."""
    plain = f"{token}{triggered_at}".encode()
    return hmac.new(signature_token.encode(), plain, hashlib.sha256).hexdigest()


def triggered_at(doc: dict[str, object]) -> datetime:
    """The delivery's `triggeredAt` (epoch milliseconds) as a time; Rejected when it is not one."""
    value = doc.get("triggeredAt")
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Rejected("invalid_payload", "triggeredAt is missing or not epoch milliseconds")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        raise Rejected("invalid_payload", "triggeredAt is out of range") from None


def check_fresh(at: datetime, now: datetime) -> None:
    """Rejected('replayed') for a delivery triggered outside the replay window (or in the future)."""
    if at < now - REPLAY_WINDOW or at > now + CLOCK_SKEW:
        raise Rejected("replayed", "triggeredAt is outside the replay window")


class Lever:
    """The Lever adapter (see the module docstring for the documents it follows)."""

    name = "lever"
    limits = RateLimit(requests=10, per_seconds=1.0)
    doc_url = "https://hire.lever.co/developer/documentation#webhooks"

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """Basic auth: the API key as user name, an empty password."""
        return basic_auth(api_key)

    def signed_event(self, body: bytes) -> str | None:
        """The delivery's `event`: each Lever webhook has its own signature token, chosen by it."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return None
        event = doc.get("event") if isinstance(doc, dict) else None
        return event if isinstance(event, str) else None

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None:
        """The signature of token + triggeredAt (in the body), then the replay window."""
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise Rejected("missing_signature", "the body is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("signature"), str):
            raise Rejected("missing_signature")
        token, at = doc.get("token"), doc.get("triggeredAt")
        if not isinstance(token, str) or isinstance(at, bool) or not isinstance(at, int):
            raise Rejected("bad_signature", "token or triggeredAt is missing")
        if not same_signature(lever_signature(secret, token, at), doc["signature"]):
            raise Rejected("bad_signature")
        check_fresh(triggered_at(doc), now)

    def parse(self, headers: Headers, body: bytes) -> Ping | list[WebhookItem]:
        """The test request (empty data), or the one event of the delivery keyed by its signed token."""
        doc = load_object(body)
        event = text(doc, "event")
        data = obj(doc, "data")
        if not data:
            return Ping("lever test request")
        if event not in _MAPPED and event not in _NOTHING:
            raise Rejected("unknown_event_type", event[:64])
        return [WebhookItem(event_id=text(doc, "token"), kind=event, payload=data, occurred_at=triggered_at(doc))]

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """Fetch the opportunity (and interview or archive reason) the ids name, then map."""
        if item.kind in _NOTHING:
            return []
        at = item.occurred_at or datetime.now(UTC)
        opportunity_id = text(item.payload, "opportunityId")
        if item.kind == "candidateArchiveChange":
            reason = _archive_reason_id(item)
            if reason is None or await archive_reason_type(api, reason) == "hired":
                return []  # unarchived, or archived as hired (candidateHired carries that)
        opportunity = await fetch_opportunity(api, opportunity_id)
        base = occurrence_of(opportunity, _MAPPED[item.kind], at)
        if not item.kind.startswith("interview"):
            return [base]
        interview = await fetch_interview(api, opportunity_id, text(item.payload, "interviewId"), at)
        if interview is None:
            return []  # deleted before we could read it, or already over
        facts, cancelled = interview
        kind = "ats.interview.cancelled" if cancelled else base.type
        return [replace(base, type=kind, interview=facts)]

    async def write_note(self, api: AtsApi, target: NoteTarget, text: str) -> None:
        """A note on the opportunity (Lever keeps notes per opportunity, not per contact)."""
        opportunity = target.application_id or target.extra.get("opportunity_id", "")
        user = api.options.get("perform_as", "")
        await api.request(
            "POST",
            f"/opportunities/{opportunity}/notes",
            json={"value": text, "notifyFollowers": False},
            params={"perform_as": user} if user else None,
        )

    async def note_texts(self, api: AtsApi, target: NoteTarget) -> list[str]:
        """The texts of the opportunity's notes, page by page."""
        opportunity = target.application_id or target.extra.get("opportunity_id", "")
        found: list[str] = []
        params = {"limit": "100"}
        for _ in range(NOTE_PAGES):
            page = await api.request("GET", f"/opportunities/{opportunity}/notes", params=params)
            if not isinstance(page, dict):
                raise FetchFailed("notes: not an object")
            notes = page.get("data")
            found += texts_of(notes, "value")
            found += [t for n in notes or [] if isinstance(n, dict) for t in texts_of(n.get("fields") or [], "value")]
            if page.get("hasNext") is not True or not isinstance(page.get("next"), str):
                break
            params = {"limit": "100", "offset": page["next"]}
        return found


def _archive_reason_id(item: WebhookItem) -> str | None:
    """The archive reason of candidateArchiveChange's toArchived; None when the opportunity was unarchived."""
    archived = item.payload.get("toArchived")
    if archived is None:
        return None
    if not isinstance(archived, dict):
        raise Rejected("invalid_payload", "toArchived is not an object")
    return optional_text(archived, "reason") or text(archived, "reasonId")


ADAPTER = register(Lever())
