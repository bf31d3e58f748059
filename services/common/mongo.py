"""The MongoDB client (PyMongo's async API; FerretDB locally, a replica set in production)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient

from services.common.settings import MongoSettings


def make_client(m: MongoSettings, app_name: str) -> AsyncMongoClient[dict[str, Any]]:
    """A client with timezone-aware datetimes and bounded timeouts (connects lazily)."""
    return AsyncMongoClient(
        m.url.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=m.timeout_ms,
        socketTimeoutMS=m.timeout_ms * 2,
        connectTimeoutMS=m.timeout_ms,
        uuidRepresentation="standard",
    )


async def ping(client: AsyncMongoClient[dict[str, Any]]) -> bool:
    """True when the server answers."""
    try:
        await client.admin.command("ping")
    except Exception:  # noqa: BLE001 - any failure means "not reachable now"
        return False
    return True
