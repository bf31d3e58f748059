"""The local FerretDB finds, updates and deletes by `_id` through its index (deploy/local/stack.py patches it).

A batch of point reads (`{_id: {$in: [...]}}`) uses it too (second patch): unpatched, it scanned the
collection (about 3 ms of FerretDB CPU per document found on 15,000 documents, against 0.07 ms).

Unpatched, v1.24.2's SQLite backend queries `_ferretdb_sjson->'$._id'` while its unique index is on
`_ferretdb_sjson->"_id"`, so every lookup scans the collection. Compared here: the same operations on a
collection of 10,000 documents of 4 KB and on one of 10, interleaved, medians. With the index the ratio is
about 1 (deletes 1.6); unpatched it was 6.5 for finds, 26 for updates and 42 for deletes.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient

from services.common.settings import MongoSettings

BIG, SMALL, ROUNDS = 10_000, 10, 25
FILLER = "x" * 4_000


async def _median_ratio(big: Callable[[int], Awaitable[Any]], small: Callable[[int], Awaitable[Any]]) -> float:
    b: list[float] = []
    s: list[float] = []
    for i in range(ROUNDS):
        for fn, out in ((big, b), (small, s)):
            started = time.perf_counter()
            await fn(i)
            out.append(time.perf_counter() - started)
    return statistics.median(b) / statistics.median(s)


async def test_lookups_updates_and_deletes_by_id_do_not_scan_the_collection(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    db = client[mongo.database]
    big, small = db["big"], db["small"]
    for start in range(0, BIG, 1_000):
        await big.insert_many([{"_id": f"c{n}:1", "filler": FILLER} for n in range(start, start + 1_000)])
    await small.insert_many([{"_id": f"c{n}:1", "filler": FILLER} for n in range(SMALL)])
    try:
        find = await _median_ratio(
            lambda i: big.find_one({"_id": f"c{i * 97 % BIG}:1"}),
            lambda i: small.find_one({"_id": f"c{i % SMALL}:1"}),
        )
        update = await _median_ratio(
            lambda i: big.update_one({"_id": f"c{i * 89 % BIG}:1"}, {"$set": {"seen": i}}),
            lambda i: small.update_one({"_id": f"c{i % SMALL}:1"}, {"$set": {"seen": i}}),
        )
        delete = await _median_ratio(
            lambda i: big.delete_one({"_id": f"c{i * 13 % BIG}:1"}),
            lambda i: small.delete_one({"_id": f"c{i % SMALL}:1"}),
        )
    finally:
        await client.close()
    assert find < 3, f"find by _id on 10,000 documents costs {find:.0f}x that on 10: a collection scan"
    assert update < 3, f"update by _id on 10,000 documents costs {update:.0f}x that on 10: a collection scan"
    assert delete < 3, f"delete by _id on 10,000 documents costs {delete:.0f}x that on 10: a collection scan"


async def test_a_batch_of_point_reads_by_id_does_not_scan_and_finds_exactly_the_ids(mongo: MongoSettings) -> None:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo.url.get_secret_value())
    db = client[mongo.database]
    big, small = db["big_in"], db["small_in"]
    for start in range(0, BIG, 1_000):
        await big.insert_many([{"_id": f"c{n}:1", "filler": FILLER} for n in range(start, start + 1_000)])
    await small.insert_many([{"_id": f"c{n}:1", "filler": FILLER} for n in range(SMALL)])

    def ids(i: int, size: int) -> list[str]:
        return [f"c{(i * 31 + k * 7) % size}:1" for k in range(5)] + ["missing:1"]

    try:
        found = [d["_id"] async for d in big.find({"_id": {"$in": ids(3, BIG)}}, {"_id": 1})]
        assert sorted(found) == sorted(set(ids(3, BIG)) - {"missing:1"})
        mixed = [d["_id"] async for d in big.find({"_id": {"$in": ["c1:1", 1, None]}}, {"_id": 1})]
        assert mixed == ["c1:1"]  # values the push-down does not take are still matched by the handler
        ratio = await _median_ratio(
            lambda i: big.find({"_id": {"$in": ids(i, BIG)}}).to_list(),
            lambda i: small.find({"_id": {"$in": ids(i, SMALL)}}).to_list(),
        )
    finally:
        await client.close()
    assert ratio < 3, f"$in on _id over 10,000 documents costs {ratio:.0f}x that over 10: a collection scan"
