"""The MongoDB client (PyMongo's async API; FerretDB locally, a replica set in production)."""

from __future__ import annotations

from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

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


DUPLICATE_KEY = 11000


async def insert_new(coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> list[int]:
    """Insert documents, keeping existing ones; the indexes of those that already existed.

    Insert-only writes are the stores' concurrency primitive: a unique ``_id`` decides who was first,
    and that is atomic on FerretDB's SQLite backend where a conditional update is not.
    """
    if not docs:
        return []
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return [e["index"] for e in errors]
    return []
