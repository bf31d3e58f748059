"""HTTP endpoints every service has: /health (process up), /ready (dependencies and state), /metrics."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Readiness:
    """Named conditions that must all hold before a service reports ready."""

    def __init__(self, *conditions: str) -> None:
        self._state = dict.fromkeys(conditions, False)

    def set(self, condition: str, ok: bool = True) -> None:
        """Mark one condition."""
        self._state[condition] = ok

    @property
    def ready(self) -> bool:
        """All conditions hold."""
        return all(self._state.values())

    def pending(self) -> list[str]:
        """Conditions not yet met."""
        return [name for name, ok in self._state.items() if not ok]


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
        if readiness.ready:
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "not ready", "pending": readiness.pending()}, status_code=503)

    @router.get("/metrics")
    async def metrics() -> Response:
        """Prometheus exposition of this service's registry."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def mount_probes(app: FastAPI, readiness: Readiness, registry: CollectorRegistry) -> None:
    """Add the probe routes to an app."""
    app.include_router(probe_routes(readiness, registry))
