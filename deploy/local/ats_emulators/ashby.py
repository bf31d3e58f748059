"""The part of Ashby's RPC API the connector calls (https://developers.ashbyhq.com/reference/introduction).

POST /application.info      {"applicationId"}                          {"success": true, "results": application}
POST /candidate.info        {"id"}                                     {"success": true, "results": candidate}
POST /candidate.createNote  {"candidateId", "note", "sendNotifications"} recorded; results: the note
POST /candidate.listNotes   {"candidateId", "cursor", "limit"}          results: notes; moreDataAvailable, nextCursor

Seeding: POST /_emulator/ashby/records {"kind": "applications" | "candidates", "id", "record"}. Ashby answers
an unknown id or a bad request with HTTP 200 and ``{"success": false, "errors", "errorInfo": {"code"}}``; a
missing or wrong API key (basic auth, the key as user name) with 401.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState, page

NAME = "ashby"
KINDS = frozenset({"applications", "candidates"})


def _failure(code: str, message: str) -> Response:
    return JSONResponse({"success": False, "errors": [message], "errorInfo": {"code": code, "message": message}})


def _note_text(note: Any) -> str | None:
    """The note's text: a string (HTML) or {"type": "text/plain" | "text/html", "value"}."""
    if isinstance(note, str):
        return note or None
    if (
        isinstance(note, dict)
        and note.get("type") in ("text/plain", "text/html")
        and isinstance(note.get("value"), str)
    ):
        return note["value"] or None
    return None


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The emulated RPC methods (mounted under /ashby) and the seeding endpoint."""

    async def body(request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        expected = "Basic " + base64.b64encode(f"{state.key(NAME)}:".encode()).decode()
        if request.headers.get("authorization") != expected:
            return None, JSONResponse({"success": False, "errors": ["unauthenticated"]}, status_code=401)
        if (injected := state.injected(NAME, request)) is not None:
            return None, injected
        doc = await request.json()
        return (doc, None) if isinstance(doc, dict) else (None, _failure("invalid_input", "body must be an object"))

    def info(kind: str, field: str) -> Any:
        async def answer(request: Request) -> Response:
            doc, refused = await body(request)
            if doc is None:
                return refused or _failure("invalid_input", "no body")
            record = state.served(NAME, f"{kind}/{doc.get(field)}")
            if record is None:
                return _failure(f"{kind[:-1]}_not_found", f"{kind[:-1]} {doc.get(field)} was not found")
            return JSONResponse({"success": True, "results": record})

        return answer

    async def create_note(request: Request) -> Response:
        doc, refused = await body(request)
        if doc is None:
            return refused or _failure("invalid_input", "no body")
        candidate, text = doc.get("candidateId"), _note_text(doc.get("note"))
        if state.served(NAME, f"candidates/{candidate}") is None:
            return _failure("candidate_not_found", f"candidate {candidate} was not found")
        if text is None:
            return _failure("invalid_input", "note is required")
        kept = state.record_note(NAME, str(candidate), text, {"send_notifications": doc.get("sendNotifications")})
        return JSONResponse({"success": True, "results": {"id": f"note-{kept['id']}", "createdAt": kept["created_at"]}})

    async def list_notes(request: Request) -> Response:
        doc, refused = await body(request)
        if doc is None:
            return refused or _failure("invalid_input", "no body")
        candidate = doc.get("candidateId")
        if state.served(NAME, f"candidates/{candidate}") is None:
            return _failure("candidate_not_found", f"candidate {candidate} was not found")
        notes = state.notes_of(NAME, str(candidate))
        found, following = page(notes, doc.get("cursor"), doc.get("limit"))
        results = [{"id": f"note-{n['id']}", "createdAt": n["created_at"], "content": n["body"]} for n in found]
        more = {"moreDataAvailable": following is not None, **({"nextCursor": following} if following else {})}
        return JSONResponse({"success": True, "results": results, **more})

    async def seed(request: Request) -> Response:
        doc = await request.json()
        if doc.get("kind") not in KINDS:
            return JSONResponse({"error": f"kind must be one of {sorted(KINDS)}"}, status_code=400)
        state.seed(NAME, f"{doc['kind']}/{doc['id']}", doc["record"])
        return JSONResponse({"seeded": f"{doc['kind']}/{doc['id']}"})

    return [
        Route("/ashby/application.info", info("applications", "applicationId"), methods=["POST"]),
        Route("/ashby/candidate.info", info("candidates", "id"), methods=["POST"]),
        Route("/ashby/candidate.createNote", create_note, methods=["POST"]),
        Route("/ashby/candidate.listNotes", list_notes, methods=["POST"]),
        Route("/_emulator/ashby/records", seed, methods=["POST"]),
    ]
