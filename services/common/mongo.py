"""The MongoDB client (PyMongo's async API; FerretDB locally, a replica set in production)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from pymongo import AsyncMongoClient, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

from services.common.settings import MongoSettings

# The array of a write command that holds its documents (inserts) or statements (updates, deletes).
_WRITES = {"insert": "documents", "update": "updates", "delete": "deletes"}


class CommandCounter(monitoring.CommandListener):
    """database_commands_total{command, collection} and database_writes_total{command, collection}.

    What a service asks of the database, counted where it is asked: the benchmark divides them by
    deliveries, operators see which collection a load comes from.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        self._commands = Counter(
            "database_commands_total", "Database commands sent.", ["command", "collection"], registry=registry
        )
        self._writes = Counter(
            "database_writes_total",
            "Documents inserted, or update/delete statements sent.",
            ["command", "collection"],
            registry=registry,
        )

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        """Count one command (and the documents or statements it carries)."""
        name = event.command_name
        target = event.command.get(name)
        collection = target if isinstance(target, str) else ""
        self._commands.labels(command=name, collection=collection).inc()
        if (field := _WRITES.get(name)) is not None:
            self._writes.labels(command=name, collection=collection).inc(len(event.command.get(field) or ()))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        """Nothing to count."""

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        """Nothing to count."""


def make_client(
    m: MongoSettings, app_name: str, registry: CollectorRegistry | None = None
) -> AsyncMongoClient[dict[str, Any]]:
    """A client with timezone-aware datetimes and bounded timeouts (connects lazily); counts commands."""
    return AsyncMongoClient(
        m.url.get_secret_value(),
        appname=app_name,
        tz_aware=True,
        serverSelectionTimeoutMS=m.timeout_ms,
        socketTimeoutMS=m.timeout_ms * 2,
        connectTimeoutMS=m.timeout_ms,
        uuidRepresentation="standard",
        event_listeners=[CommandCounter(registry)] if registry is not None else [],
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


async def put_each(coll: AsyncCollection[dict[str, Any]], docs: list[dict[str, Any]]) -> None:
    """Store documents by `_id`, a later one in `docs` (or now) replacing an earlier one.

    The new ones go in one batched insert; each one that existed is replaced by a command of its own. Never
    one command with many updates: FerretDB 1.24 (SQLite) takes a pooled connection for every statement of
    an update command and holds them until the command ends, so ~100 of them exhaust its pool and the
    server stays stuck (reproduced: one bulk of 150 upserts of existing documents timed out, and so did
    every command after it until a restart).
    """
    for i in await insert_new(coll, docs):
        await coll.replace_one({"_id": docs[i]["_id"]}, docs[i])


BY_IDS_CHUNK = 1000


async def find_by_ids(
    coll: AsyncCollection[dict[str, Any]], ids: Iterable[str], projection: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """The documents with these `_id`s, by `_id`: one command per thousand instead of one per document.

    MongoDB answers `{_id: {$in: [...]}}` from its `_id` index; FerretDB 1.24's SQLite backend
    scanned the collection for it until the local build's patch (deploy/local/stack.py) pushed it
    down to SQLite as `IN (...)`, where it costs a fifth of the point reads it replaces.
    """
    wanted = list(dict.fromkeys(ids))
    out: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), BY_IDS_CHUNK):
        chunk = wanted[start : start + BY_IDS_CHUNK]
        async for d in coll.find({"_id": {"$in": chunk}}, projection):
            out[d["_id"]] = d
    return out
