"""The connector's store on FerretDB: many interviews or note keys at once never become one bulk of updates.

FerretDB 1.24 (SQLite) holds a pooled connection for every statement of an update command until the command
ends; one bulk of 150 upserts of existing documents exhausted its pool and left the server stuck until a
restart. A poll round that moves 150 interviews, or a note about many states tried again, must not do that.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import AsyncMongoClient

from services.common.settings import MongoSettings
from services.connectors.adapters import InterviewFacts, KnownInterview
from services.connectors.store import MongoConnectorStore

AT = datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
MANY = 150  # past the ~100 statements that exhaust FerretDB's pool in one command


def told(i: int, location: str) -> KnownInterview:
    start = AT + timedelta(days=1, minutes=i)
    return KnownInterview(
        "gh", f"app-{i}", f"cand-{i}", InterviewFacts(f"gh-{i}", start, start + timedelta(hours=1), location, None, i)
    )


async def test_many_interviews_told_again_are_stored_without_one_bulk_of_updates(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value(), tz_aware=True)
    store = MongoConnectorStore(client, mongo.database)
    try:
        await asyncio.wait_for(store.remember_interviews([told(i, "Room 1") for i in range(MANY)]), 20)
        moved = [told(i, "Room 2") for i in range(MANY)] + [told(0, "Room 3")]  # told twice in one round: last wins
        await asyncio.wait_for(store.remember_interviews(moved), 20)
        known = await store.known_interviews("gh", [f"gh-{i}" for i in range(MANY)])
        assert len(known) == MANY
        assert known["gh-0"].interview.location == "Room 3"
        assert {k.interview.location for i, k in known.items() if i != "gh-0"} == {"Room 2"}

        keys = [f"n{i}:sent" for i in range(MANY)]
        await asyncio.wait_for(store.attempt(keys, "m1", AT), 20)
        await asyncio.wait_for(store.attempt(keys, "m2", AT), 20)  # tried again: every key gains the marker
        attempts = await store.attempts(keys)
        assert len(attempts) == MANY and all(markers == {"m1", "m2"} for markers in attempts.values())
        assert await client.admin.command("ping")  # the server still answers
    finally:
        await client.close()
