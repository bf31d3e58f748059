"""The Harvest reads of the Greenhouse emulator (https://developers.greenhouse.io/harvest.html), under /greenhouse.

GET /v1/scheduled_interviews[?updated_after=&per_page=&page=]  every seeded interview of every application,
    updated at or after `updated_after`, oldest change first, paginated as Harvest documents: ``per_page``
    (1-500, default 100), ``page`` (1-based) and a ``Link`` header with ``rel="next"`` while pages remain
GET /v1/applications/{id}    an application (``candidate_id``, ``current_stage``, ``jobs``, ``prospect``); 404 unknown
GET /v1/candidates/{id}      a candidate (names, ``email_addresses``, ``phone_numbers``); 404 unknown

Seeding: POST /_emulator/greenhouse/records {"applications": {id: record}, "candidates": {id: record}}. A seeded
record ``page_size`` (``state.seed("greenhouse", "page_size", 2)``) caps every page, so tests see several;
``state.served("greenhouse", "listed_since")`` lists the ``updated_after`` of every listing's first page. Interviews
are seeded per application (greenhouse.py); one seeded without ``updated_at`` or ``created_at`` gets the
time it was seeded, as Greenhouse stamps an interview when it is scheduled.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState

NAME = "greenhouse"
KINDS = frozenset({"applications", "candidates"})
Guard = Callable[[Request], Awaitable[Response | None]]


def stamped(interviews: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Interviews as Greenhouse keeps them: created_at and updated_at set when the seed leaves them out."""
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return [{"created_at": now, "updated_at": now, **iv} for iv in interviews]


def _when(value: object) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _number(value: str | None, default: int, low: int, high: int) -> int | None:
    if value is None:
        return default
    return int(value) if value.isdigit() and low <= int(value) <= high else None


def routes(state: EmulatorState, guard: Guard) -> list[BaseRoute]:
    """The emulated Harvest reads and their seeding endpoint."""

    async def list_interviews(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        per_page = _number(request.query_params.get("per_page"), 100, 1, 500)
        page = _number(request.query_params.get("page"), 1, 1, 10**6)
        if per_page is None or page is None:
            return JSONResponse({"message": "Validation error", "errors": [{"field": "per_page"}]}, status_code=422)
        per_page = min(per_page, int(state.served(NAME, "page_size", 500)))
        since = request.query_params.get("updated_after")
        if request.query_params.get("page") is None:  # where each listing started, for tests of the cursor
            state.records.setdefault(NAME, {}).setdefault("listed_since", []).append(since)
        every = [
            iv
            for name, found in state.records.get(NAME, {}).items()
            if name.startswith("interviews/")
            for iv in found
            if since is None or _when(iv.get("updated_at")) >= _when(since)
        ]
        every.sort(key=lambda iv: (_when(iv.get("updated_at")), str(iv.get("id"))))
        chunk = every[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(every):
            following = request.url.include_query_params(page=page + 1, per_page=per_page)
            headers["Link"] = f'<{following}>; rel="next"'
        return JSONResponse(chunk, headers=headers)

    def read(kind: str) -> Callable[[Request], Awaitable[Response]]:
        async def answer(request: Request) -> Response:
            if (refused := await guard(request)) is not None:
                return refused
            record = state.served(NAME, f"{kind}/{request.path_params['id']}")
            if record is None:
                return JSONResponse({"message": "Resource not found"}, status_code=404)
            return JSONResponse(record)

        return answer

    async def seed(request: Request) -> Response:
        doc = await request.json()
        if not isinstance(doc, dict) or not set(doc) <= KINDS:
            return JSONResponse({"error": f"keys must be among {sorted(KINDS)}"}, status_code=400)
        seeded = [f"{kind}/{key}" for kind, by_id in doc.items() for key in by_id]
        for kind, by_id in doc.items():
            for key, record in by_id.items():
                state.seed(NAME, f"{kind}/{key}", record)
        return JSONResponse({"seeded": seeded})

    return [
        Route("/greenhouse/v1/scheduled_interviews", list_interviews),
        Route("/greenhouse/v1/applications/{id}", read("applications")),
        Route("/greenhouse/v1/candidates/{id}", read("candidates")),
        Route("/_emulator/greenhouse/records", seed, methods=["POST"]),
    ]
