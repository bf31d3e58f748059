"""The part of Recruitee's API the connector calls (https://docs.recruitee.com/reference).

POST /c/{company_id}/candidates/{id}/notes   {"note": {"body": ...}} with a Bearer token; recorded
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState

NAME = "recruitee"


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The emulated endpoints (mounted under /recruitee)."""

    async def add_note(request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {state.key(NAME)}":
            return JSONResponse({"error": ["Unauthorized"]}, status_code=401)
        if (refused := state.injected(NAME, request)) is not None:
            return refused
        doc = await request.json()
        note = doc.get("note") if isinstance(doc, dict) else None
        if not isinstance(note, dict) or not isinstance(note.get("body"), str) or not note["body"]:
            return JSONResponse({"error": ["note.body can't be blank"]}, status_code=422)
        kept = state.record_note(
            NAME, request.path_params["candidate_id"], note["body"], {"company_id": request.path_params["company_id"]}
        )
        return JSONResponse({"note": {"id": kept["id"], "body": kept["body"], "created_at": kept["created_at"]}})

    return [Route("/recruitee/c/{company_id}/candidates/{candidate_id}/notes", add_note, methods=["POST"])]
