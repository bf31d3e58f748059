"""The part of the Lever API the connector calls (https://hire.lever.co/developer/documentation).

Mounted under /lever, which stands for Lever's root URL https://api.lever.co/v1 (the connection's API URL).

GET  /opportunities/{id}[?expand=stage&expand=applications]   the opportunity, stage/applications expanded
GET  /postings/{id}                                           a posting (its title is `text`)
GET  /opportunities/{id}/interviews/{interview}               an interview (404 once deleted)
GET  /archive_reasons/{id}                                    an archive reason (type hired or non-hired)
POST /opportunities/{id}/notes[?perform_as=]                  {"value", ...}: recorded, 201 {"data": {"noteId"}}
GET  /opportunities/{id}/notes[?limit=&offset=]               {"data": [notes], "hasNext", "next"}: the value in fields

Seeding: POST /_emulator/lever/records {"kind": "opportunities" | "stages" | "applications" | "postings" |
"interviews" | "archive_reasons", "id": ..., "record": {...}} stores a record as Lever returns it (ids, not
expanded objects); DELETE of the same path with {"kind", "id"} removes one (an interview deleted in Lever).
Lever answers with ``{"data": ...}`` and errors as ``{"code", "message"}``; it authenticates with basic auth,
the API key as user name and an empty password.
"""

from __future__ import annotations

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState, page

NAME = "lever"
KINDS = frozenset({"opportunities", "stages", "applications", "postings", "interviews", "archive_reasons"})


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _expanded(state: EmulatorState, opportunity: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """The opportunity with the ids named in `expand` replaced by their objects, as Lever's expand does."""
    out = dict(opportunity)
    if "stage" in expand:
        out["stage"] = state.served(NAME, f"stages/{opportunity.get('stage')}", opportunity.get("stage"))
    if "applications" in expand:
        out["applications"] = [state.served(NAME, f"applications/{a}", a) for a in opportunity.get("applications", [])]
    return out


def routes(state: EmulatorState) -> list[BaseRoute]:
    """The emulated Lever endpoints (mounted under /lever) and the seeding endpoint."""

    def refused(request: Request) -> Response | None:
        expected = "Basic " + base64.b64encode(f"{state.key(NAME)}:".encode()).decode()
        if request.headers.get("authorization") != expected:
            return _error(401, "Unauthorized", "A valid API key was not provided with the request")
        return state.injected(NAME, request)

    def read(kind: str, key: str) -> Response:
        record = state.served(NAME, f"{kind}/{key}")
        if record is None:
            return _error(404, "ResourceNotFound", f"{kind} {key} was not found")
        return JSONResponse({"data": record})

    async def opportunity(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        found = state.served(NAME, f"opportunities/{request.path_params['id']}")
        if found is None:
            return read("opportunities", request.path_params["id"])
        return JSONResponse({"data": _expanded(state, found, request.query_params.getlist("expand"))})

    def resource(kind: str, param: str = "id") -> Any:
        async def answer(request: Request) -> Response:
            return refused(request) or read(kind, request.path_params[param])

        return answer

    async def add_note(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        opportunity_id = request.path_params["id"]
        if state.served(NAME, f"opportunities/{opportunity_id}") is None:
            return _error(404, "ResourceNotFound", f"opportunities {opportunity_id} was not found")
        doc = await request.json()
        if not isinstance(doc, dict) or not isinstance(doc.get("value"), str) or not doc["value"]:
            return _error(400, "BadRequest", "value is required")
        extra = {"perform_as": request.query_params.get("perform_as"), "opportunity_id": opportunity_id}
        note = state.record_note(NAME, opportunity_id, doc["value"], extra)
        return JSONResponse({"data": {"noteId": f"note-{note['id']}"}}, status_code=201)

    async def list_notes(request: Request) -> Response:
        if (answer := refused(request)) is not None:
            return answer
        notes = state.notes_of(NAME, request.path_params["id"])
        found, following = page(notes, request.query_params.get("offset"), request.query_params.get("limit"))
        data = [
            {"id": f"note-{n['id']}", "createdAt": n["created_at"], "fields": [{"type": "text", "value": n["body"]}]}
            for n in found
        ]
        return JSONResponse(
            {"data": data, "hasNext": following is not None, **({"next": following} if following else {})}
        )

    async def seed(request: Request) -> Response:
        doc = await request.json()
        if doc.get("kind") not in KINDS:
            return _error(400, "BadRequest", f"kind must be one of {sorted(KINDS)}")
        key = f"{doc['kind']}/{doc['id']}"
        if request.method == "DELETE":
            state.records.get(NAME, {}).pop(key, None)
            return JSONResponse({"deleted": key})
        state.seed(NAME, key, doc["record"])
        return JSONResponse({"seeded": key})

    return [
        Route("/lever/opportunities/{id}", opportunity),
        Route("/lever/postings/{id}", resource("postings")),
        Route("/lever/opportunities/{opportunity}/interviews/{id}", resource("interviews")),
        Route("/lever/archive_reasons/{id}", resource("archive_reasons")),
        Route("/lever/opportunities/{id}/notes", add_note, methods=["POST"]),
        Route("/lever/opportunities/{id}/notes", list_notes, methods=["GET"]),
        Route("/_emulator/lever/records", seed, methods=["POST", "DELETE"]),
    ]
