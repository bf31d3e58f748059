"""The part of Recruitee's API the connector calls (https://docs.recruitee.com/reference).

POST /c/{company_id}/candidates/{id}/notes   {"note": {"body": ...}} with a Bearer token; recorded
GET  /c/{company_id}/candidates/{id}/notes   {"notes": [...the recorded notes]}
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState

NAME = "recruitee"


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The emulated endpoints (mounted under /recruitee)."""

    def guard(request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {state.key(NAME)}":
            return JSONResponse({"error": ["Unauthorized"]}, status_code=401)
        return state.injected(NAME, request)

    async def list_notes(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        notes = state.notes_of(NAME, request.path_params["candidate_id"])
        return JSONResponse(
            {"notes": [{"id": n["id"], "body": n["body"], "created_at": n["created_at"]} for n in notes]}
        )

    async def add_note(request: Request) -> Response:
        if (refused := guard(request)) is not None:
            return refused
        doc = await request.json()
        note = doc.get("note") if isinstance(doc, dict) else None
        if not isinstance(note, dict) or not isinstance(note.get("body"), str) or not note["body"]:
            return JSONResponse({"error": ["note.body can't be blank"]}, status_code=422)
        kept = state.record_note(
            NAME, request.path_params["candidate_id"], note["body"], {"company_id": request.path_params["company_id"]}
        )
        return JSONResponse({"note": {"id": kept["id"], "body": kept["body"], "created_at": kept["created_at"]}})

    path = "/recruitee/c/{company_id}/candidates/{candidate_id}/notes"
    return [Route(path, add_note, methods=["POST"]), Route(path, list_notes, methods=["GET"])]
