"""The part of Greenhouse's Harvest API the connector calls (https://developers.greenhouse.io/harvest.html).

GET  /v1/applications/{id}/scheduled_interviews   seeded with POST /_emulator/greenhouse/scheduled_interviews
                                                  {"application_id": ..., "interviews": [...Harvest objects]}
POST /v1/candidates/{id}/activity_feed/notes      {"user_id", "body", "visibility"} with On-Behalf-Of; recorded
GET  /v1/candidates/{id}/activity_feed            {"notes": [...the recorded notes], "emails": [], "activities": []}
GET  /v1/scheduled_interviews, /v1/applications/{id}, /v1/candidates/{id}   see greenhouse_reads.py

Harvest authenticates with HTTP basic auth, the API key as user name and an empty password; a note needs
the On-Behalf-Of header (422 without it, as Harvest answers).
"""

from __future__ import annotations

import base64

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators import greenhouse_reads
from deploy.local.ats_emulators.state import EmulatorState

NAME = "greenhouse"


def _authorised(state: EmulatorState, request: Request) -> bool:
    expected = "Basic " + base64.b64encode(f"{state.key(NAME)}:".encode()).decode()
    return request.headers.get("authorization") == expected


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The emulated Harvest endpoints (mounted under /greenhouse) and the seeding endpoint."""

    async def guard(request: Request) -> Response | None:
        if not _authorised(state, request):
            return JSONResponse({"message": "Invalid Basic Auth credentials"}, status_code=401)
        return state.injected(NAME, request)

    async def scheduled_interviews(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        application_id = request.path_params["application_id"]
        return JSONResponse(state.served(NAME, f"interviews/{application_id}", []))

    async def add_note(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        if not request.headers.get("on-behalf-of"):
            return JSONResponse({"message": "On-Behalf-Of header is required"}, status_code=422)
        doc = await request.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("body"), str) or not doc["body"]:
            return JSONResponse({"errors": [{"field": "body", "message": "is required"}]}, status_code=422)
        note = state.record_note(
            NAME,
            request.path_params["candidate_id"],
            doc["body"],
            {"visibility": doc.get("visibility"), "on_behalf_of": request.headers.get("on-behalf-of")},
        )
        return JSONResponse(
            {
                "id": note["id"],
                "created_at": note["created_at"],
                "body": note["body"],
                "visibility": note["visibility"],
            },
            status_code=201,
        )

    async def activity_feed(request: Request) -> Response:
        if (refused := await guard(request)) is not None:
            return refused
        notes = [
            {
                "id": n["id"],
                "created_at": n["created_at"],
                "body": n["body"],
                "user": {"id": n.get("on_behalf_of")},
                "private": False,
                "visibility": n.get("visibility"),
            }
            for n in reversed(state.notes_of(NAME, request.path_params["candidate_id"]))  # newest first
        ]
        return JSONResponse({"notes": notes, "emails": [], "activities": []})

    async def seed_interviews(request: Request) -> Response:
        doc = await request.json()
        state.seed(NAME, f"interviews/{doc['application_id']}", greenhouse_reads.stamped(doc["interviews"]))
        return JSONResponse({"seeded": len(doc["interviews"])})

    return [
        Route("/greenhouse/v1/applications/{application_id}/scheduled_interviews", scheduled_interviews),
        Route("/greenhouse/v1/candidates/{candidate_id}/activity_feed/notes", add_note, methods=["POST"]),
        Route("/greenhouse/v1/candidates/{candidate_id}/activity_feed", activity_feed),
        Route("/_emulator/greenhouse/scheduled_interviews", seed_interviews, methods=["POST"]),
        *greenhouse_reads.routes(state, guard),
    ]
