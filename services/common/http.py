"""HTTP endpoints every service has: /health (process up), /ready (dependencies and state), /metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from fastapi import APIRouter, FastAPI, HTTPException, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Probe = Callable[[], Mapping[str, str]]


class Readiness:
    """Named conditions that must all hold before a service reports ready.

    Conditions are set (`set`), or come from probes asked at every /ready: a probe returns the
    conditions it finds unmet right now, each with a reason (a failing input, a stalled group).
    """

    def __init__(self, *conditions: str) -> None:
        self._state = dict.fromkeys(conditions, False)
        self._probes: list[Probe] = []

    def set(self, condition: str, ok: bool = True) -> None:
        """Mark one condition."""
        self._state[condition] = ok

    def probe(self, probe: Probe) -> None:
        """Ask `probe` for unmet conditions (name -> reason) whenever readiness is asked for."""
        self._probes.append(probe)

    def reasons(self) -> dict[str, str]:
        """Unmet conditions and why (set conditions say only that they are not met yet)."""
        out = {name: "not yet" for name, ok in self._state.items() if not ok}
        for probe in self._probes:
            for name, reason in probe().items():
                out[name] = f"{out[name]}; {reason}" if name in out else reason
        return out

    @property
    def ready(self) -> bool:
        """All conditions hold."""
        return not self.reasons()

    def pending(self) -> list[str]:
        """Conditions not yet met."""
        return list(self.reasons())


def probe_routes(readiness: Readiness, registry: CollectorRegistry) -> APIRouter:
    """Routes for /health, /ready and /metrics."""
    router = APIRouter(include_in_schema=False)

    @router.get("/health")
    async def health() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @router.get("/ready")
    async def ready() -> JSONResponse:
        """200 when connected and caught up, else 503 with what is pending."""
        reasons = readiness.reasons()
        if not reasons:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "pending": list(reasons), "reasons": reasons}, status_code=503)

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition of this service's registry."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def mount_probes(app: FastAPI, readiness: Readiness, registry: CollectorRegistry) -> None:
    """Add the probe routes to an app."""
    app.include_router(probe_routes(readiness, registry))


class BodyLimit:
    """ASGI middleware: refuse request bodies over `max_bytes` with 413 (declared or streamed)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await PlainTextResponse("request body too large", status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, "request body too large")
            return message

        await self.app(scope, limited, send)
