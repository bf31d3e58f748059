"""What one ATS adapter is: verify, parse, complete, write a note; and the registry of adapters by ATS name.

An adapter is a module (``greenhouse.py``, ``recruitee.py``, ``lever.py``, ``ashby.py``) with one object
satisfying ``Adapter``, registered with ``register(adapter)`` at import; ``services.connectors.registry``
imports every module so ``ADAPTERS[name]`` finds it. The service calls the parts in this order:

1. ``verify(headers, body, secret, now)`` before anything is parsed: raise ``Rejected(reason)`` when the
   signature (and, where the ATS signs a time, the replay window) does not hold. Headers are lower-case.
2. ``parse(headers, body)``: the ATS's test request becomes ``Ping``; anything else a list of
   ``WebhookItem`` (one per event in the delivery; ``event_id`` is the ATS's own id, the dedupe key).
   An event type the adapter does not map raises ``Rejected("unknown_event_type")`` (answered 200,
   ignored, counted); a payload without the fields the ATS documents raises ``Rejected("invalid_payload")``.
3. ``await complete(item, api)``: the ``Occurrence`` list the item stands for, in our vocabulary but with the
   ATS's ids and its own stage name; the adapter fetches what the webhook lacks through ``api`` (REST with
   the connection's credentials, retried by ``api``). Zero occurrences: nothing to send (e.g. a prospect).
4. Write-back: ``await write_note(api, target, text)`` adds ``text`` to the candidate that ``target`` names
   (``Occurrence.note_target`` is stored when the webhook is mapped, since notifications.status carries our
   ids only). Idempotency is the caller's (a store keyed by notification id and state); adapters only write.
   ``await note_texts(api, target)`` lists the texts of the candidate's notes through the ATS's documented
   list endpoint: the write-back looks there for a note the ATS took right before a crash (writeback.py).

``limits`` is the ATS's documented REST rate limit; the write-back spaces its calls with it. Everything the
service turns into a CloudEvent (ids, our candidate id, stage mapping) is in ``services.connectors.mapping``,
so adapters stay translations of one ATS's documents.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

Headers = Mapping[str, str]


class Rejected(Exception):  # noqa: N818 - the webhook is rejected; "Error" would say less
    """A webhook that is not taken; `reason` is a short code safe to log and to count."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class FetchFailed(Exception):  # noqa: N818 - the fetch failed; "Error" would say less
    """The ATS's REST API did not answer usefully after the retries; `reason` names what (no personal data).

    `retryable` is False when the ATS refused the request itself (4xx other than 408/425/429): trying later
    will not help.
    """

    def __init__(self, reason: str, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


@dataclass(frozen=True)
class Ping:
    """The ATS's test or ping request: answered 200, nothing produced."""

    detail: str = "ping"


@dataclass(frozen=True)
class WebhookItem:
    """One event of a delivery: the ATS's own event id (dedupe key), its event type and its payload."""

    event_id: str
    kind: str
    payload: Mapping[str, Any]
    occurred_at: datetime | None = None
    # A webhook that names an interview by its id only (Greenhouse's interview_deleted): the intake fills
    # `known_interview` with what the connector remembers of it before `complete` is called.
    interview_ref: str | None = None
    known_interview: KnownInterview | None = None


@dataclass(frozen=True)
class NoteTarget:
    """Where a note about the candidate goes in the ATS (its ids, as the adapter needs them)."""

    candidate_id: str
    application_id: str | None = None
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateFacts:
    """The candidate as the ATS holds them (contact data is personal: never logged)."""

    ats_id: str
    name: str
    email: str | None = None
    phone: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class InterviewFacts:
    """An interview as the ATS holds it."""

    id: str
    start: datetime
    end: datetime
    location: str | None = None
    video_link: str | None = None
    sequence: int = 0


@dataclass(frozen=True)
class KnownInterview:
    """An interview the connector told the pipeline about: enough to cancel it or to see that it moved."""

    connection: str
    application_id: str
    ats_candidate_id: str
    interview: InterviewFacts
    cancelled: bool = False


@dataclass(frozen=True)
class Occurrence:
    """What happened in the ATS, as one of our ats.* event types, with the ATS's ids and stage name."""

    type: str
    candidate: CandidateFacts
    application_id: str
    job_title: str
    stage: str
    time: datetime
    note_target: NoteTarget
    previous_stage: str | None = None
    interview: InterviewFacts | None = None
    offer_deadline: datetime | None = None
    part: str = ""  # distinguishes several occurrences of one ATS event (their CloudEvent ids differ)
    # When set, the CloudEvent id comes from this instead of the ATS event: the same fact found by two
    # paths (a web hook and a poller) is then one event, which the pipeline takes once.
    event_key: str | None = None


@dataclass(frozen=True)
class RateLimit:
    """A documented REST rate limit: `requests` per `per_seconds` (a token bucket of that size)."""

    requests: int
    per_seconds: float


class AtsApi(Protocol):
    """The connection's REST client (base URL, credentials, retries with backoff, rate limit)."""

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request; the decoded JSON answer (None when empty). Raises FetchFailed after retries."""
        ...

    def pages(self, path: str, params: Mapping[str, str] | None = None) -> AsyncIterator[Any]:
        """GET a paginated list: each page's decoded answer, following the ATS's next links (FetchFailed on errors)."""
        ...

    @property
    def options(self) -> Mapping[str, str]:
        """The connection's ATS-specific options (e.g. Greenhouse's On-Behalf-Of user, Recruitee's company)."""
        ...


class Adapter(Protocol):
    """One ATS: how it signs, what it sends, what its API returns, where notes go."""

    name: str
    limits: RateLimit
    doc_url: str

    def auth_headers(self, api_key: str) -> dict[str, str]:
        """The headers that authenticate a REST call with the connection's API key."""
        ...

    def verify(self, headers: Headers, body: bytes, secret: str, now: datetime) -> None:
        """Raise Rejected unless the delivery is signed with `secret` (and fresh, where the ATS signs a time)."""
        ...

    def parse(self, headers: Headers, body: bytes) -> Ping | list[WebhookItem]:
        """The test request, or the delivery's events; Rejected for an unknown type or a malformed payload."""
        ...

    async def complete(self, item: WebhookItem, api: AtsApi) -> list[Occurrence]:
        """The occurrences an item stands for, fetching what the payload lacks; FetchFailed when the API fails."""
        ...

    async def write_note(self, api: AtsApi, target: NoteTarget, text: str) -> None:
        """Add `text` as a note on the candidate in the ATS; FetchFailed when the API keeps failing."""
        ...

    async def note_texts(self, api: AtsApi, target: NoteTarget) -> list[str]:
        """The texts of the notes on the candidate (where write_note writes); FetchFailed when the API fails."""
        ...


@runtime_checkable
class SignsPerEventType(Protocol):
    """An ATS that gives each webhook (event type) its own signing secret (Lever's signature tokens)."""

    def signed_event(self, body: bytes) -> str | None:
        """The event type a delivery says it is (read before verifying, to pick the secret it is checked with)."""
        ...


ADAPTERS: dict[str, Adapter] = {}
NOTE_PAGES = 20  # pages of a candidate's notes read at most when looking for a marker (newest first where sortable)


def register(adapter: Adapter) -> Adapter:
    """Make an adapter known by its name (modules call this at import)."""
    ADAPTERS[adapter.name] = adapter
    return adapter


def hmac_hex(secret: str, message: bytes, digest: str = "sha256") -> str:
    """The lower-case hex HMAC of `message` under `secret` (the way most ATSs sign)."""
    return hmac.new(secret.encode(), message, getattr(hashlib, digest)).hexdigest()


def basic_auth(user: str, password: str = "") -> dict[str, str]:
    """HTTP basic authentication (several ATSs take the API key as the user name, no password)."""
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def check_body_hmac(given: str | None, secret: str, body: bytes, prefix_separator: str | None = None) -> None:
    """Raise Rejected unless `given` is the hex HMAC-SHA256 of the raw body, optionally as 'sha256<sep><hex>'."""
    if not given:
        raise Rejected("missing_signature")
    digest: str | None = given
    if prefix_separator is not None:
        algorithm, _, digest = given.strip().partition(prefix_separator)
        if algorithm.lower() != "sha256":
            digest = None
    if digest is None or not same_signature(hmac_hex(secret, body), digest):
        raise Rejected("bad_signature")


def same_signature(expected: str, given: str | None) -> bool:
    """Constant-time comparison of two signatures (False for a missing one)."""
    return given is not None and hmac.compare_digest(expected.lower().encode(), given.strip().lower().encode())


def texts_of(notes: Any, *fields: str) -> list[str]:
    """The string values of these fields in a list of note objects (anything else skipped)."""
    if not isinstance(notes, list):
        raise FetchFailed("notes: not a list")
    return [n[f] for n in notes if isinstance(n, dict) for f in fields if isinstance(n.get(f), str)]
