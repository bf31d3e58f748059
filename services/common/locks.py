"""Per-key serialisation inside one process (e.g. one candidate's held messages).

The router owns each candidate's partition exclusively, so serialising its own tasks per
candidate is what keeps a release, a re-decision and a fallback from deciding twice; it does not
rely on the database's conditional updates, which FerretDB does not make atomic.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from contextlib import AsyncExitStack, asynccontextmanager


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of `key` for the duration of the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    @asynccontextmanager
    async def hold_all(self, keys: Iterable[str]) -> AsyncIterator[None]:
        """Hold the locks of several keys, taken in sorted order (two holders never wait for each other)."""
        async with AsyncExitStack() as stack:
            for key in sorted(set(keys)):
                await stack.enter_async_context(self.hold(key))
            yield


class WorkGate:
    """Lets many tasks work on owned partitions, and a rebalance wait until they are done.

    A consumer group rebalance revokes partitions while batches fetched earlier may still be in
    flight. The revoke callback closes the gate and waits for running work to finish; the assign
    callback reopens it once the new partitions' state is rebuilt. Work that starts while the gate
    is closed waits, then re-checks which partitions it still owns.
    """

    def __init__(self) -> None:
        self._active = 0
        self._open = asyncio.Event()
        self._open.set()
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def work(self) -> AsyncIterator[None]:
        """Hold the gate open for one piece of work."""
        await self._open.wait()
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def close(self) -> None:
        """Stop new work and wait for running work to finish."""
        self._open.clear()
        await self._idle.wait()

    def reopen(self) -> None:
        """Let work run again."""
        self._open.set()
