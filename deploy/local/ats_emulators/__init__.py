"""Local emulators of the ATS REST APIs the connector calls (Greenhouse, Recruitee, Lever, Ashby), in one server.

    python -m deploy.local.ats_emulators --port 8026 --dir .local/ats

Each ATS is a module of this package (``greenhouse.py``, ...) with ``NAME`` and ``routes(state)``: its API
under ``/<NAME>/...`` (the connection's API URL is ``http://127.0.0.1:8026/<NAME>``), and its seeding
endpoints under ``/_emulator/<NAME>/...``. A module listed in MODULES that is not there yet is skipped.
API keys: ``dev-<name>-key`` (ATS_EMULATOR_<NAME>_KEY overrides).

Shared endpoints:
    GET  /_emulator/health
    GET  /_emulator/notes[?ats=greenhouse]       every note received, in order, never de-duplicated
    GET  /_emulator/calls[?ats=greenhouse]       every API call (method and path), failures included
    POST /_emulator/fail {"ats", "statuses": [503, 503]}   the next calls of that ATS answer these statuses
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from types import ModuleType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from deploy.local.ats_emulators.state import EmulatorState

__all__ = ["MODULES", "EmulatorState", "create_app"]
MODULES = ("greenhouse", "recruitee", "lever", "ashby")


def modules() -> list[ModuleType]:
    """The ATS modules present."""
    found = []
    for name in MODULES:
        path = f"deploy.local.ats_emulators.{name}"
        if importlib.util.find_spec(path) is not None:
            found.append(importlib.import_module(path))
    return found


def _shared(state: EmulatorState) -> list[BaseRoute]:
    def by_ats(items: list[dict[str, object]]) -> Callable[[Request], Response]:
        def answer(request: Request) -> Response:
            ats = request.query_params.get("ats")
            return JSONResponse([i for i in items if ats in (None, i["ats"])])

        return answer

    async def notes(request: Request) -> Response:
        return by_ats(state.notes)(request)

    async def calls(request: Request) -> Response:
        return by_ats(state.calls)(request)  # type: ignore[arg-type]

    async def fail(request: Request) -> Response:
        doc = await request.json()
        state.failures.setdefault(str(doc["ats"]), []).extend(int(s) for s in doc["statuses"])
        return JSONResponse({"queued": state.failures[str(doc["ats"])]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "emulated": [m.NAME for m in modules()]})

    return [
        Route("/_emulator/health", health),
        Route("/_emulator/notes", notes),
        Route("/_emulator/calls", calls),
        Route("/_emulator/fail", fail, methods=["POST"]),
    ]


def create_app(state: EmulatorState | None = None) -> Starlette:
    """Every emulated ATS in one ASGI app (its state at app.state.emulator)."""
    state = state or EmulatorState()
    routes = _shared(state)
    for module in modules():
        routes += module.routes(state)
    app = Starlette(routes=routes)
    app.state.emulator = state
    return app
