"""The REST client of one connection: credentials, retries with backoff, and the ATS's documented rate limit."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from services.connectors.adapters import Adapter, FetchFailed, RateLimit

log = logging.getLogger(__name__)
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 30.0
MAX_PAGES = 100  # a runaway next link stops here (100 pages of up to 500 records)


class Pacer:
    """An async token bucket: `requests` per `per_seconds`, bursts up to `requests`; callers wait their turn."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(limit.requests)
        self.rate = limit.requests / limit.per_seconds
        self._tokens = self.capacity
        self._at = clock()
        self._clock = clock
        self._lock = asyncio.Lock()

    def delay(self) -> float:
        """Take a token now if one is there (0.0), else reserve the next and say how long to wait for it."""
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0  # may go negative: a reservation that later callers queue behind
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def wait(self) -> None:
        """Wait until a request may go out."""
        async with self._lock:
            wait = self.delay()
        if wait > 0:
            await asyncio.sleep(wait)


class AtsClient:
    """Calls one connection's API; satisfies the adapters' AtsApi protocol."""

    def __init__(
        self,
        adapter: Adapter,
        base_url: str,
        api_key: str,
        options: Mapping[str, str],
        *,
        timeout_s: float = 5.0,
        attempts: int = 4,
        backoff_s: float = 0.5,
        on_call: Callable[[str], None] | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_s, headers=adapter.auth_headers(api_key)
        )
        self._options = dict(options)
        self._pacer = Pacer(adapter.limits)
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._on_call = on_call or (lambda outcome: None)
        self._sleep = sleep

    @property
    def options(self) -> Mapping[str, str]:
        """The connection's ATS-specific options."""
        return self._options

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One call with retries (5xx, 429 with Retry-After, network errors); FetchFailed when they run out."""
        response = await self._send(method, path, json=json, params=params, headers=headers)
        return response.json() if response.content else None

    async def pages(self, path: str, params: Mapping[str, str] | None = None) -> AsyncIterator[Any]:
        """GET a paginated list and yield each page's answer, following the RFC 8288 ``Link: rel="next"`` header.

        A next link to another host is refused (FetchFailed): it would carry the connection's credentials there.
        """
        url, query = path, params
        for _ in range(MAX_PAGES):
            response = await self._send("GET", url, params=query)
            yield response.json() if response.content else None
            following = response.links.get("next", {}).get("url")
            if not following:
                return
            if httpx.URL(following).host != self._client.base_url.host:
                raise FetchFailed(f"GET {path}: next page on another host", retryable=False)
            url, query = following, None
        raise FetchFailed(f"GET {path}: more than {MAX_PAGES} pages", retryable=False)

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One call (`options`: httpx's json, params, headers) with the retries; the successful response."""
        reason = "no attempt"
        for attempt in range(1, self._attempts + 1):
            await self._pacer.wait()
            try:
                response = await self._client.request(method, path, **options)
            except httpx.HTTPError as exc:
                reason = f"{method} {_path(path)}: {type(exc).__name__}"
                retry_after = None
            else:
                if response.status_code < 400:
                    self._on_call("ok")
                    return response
                reason = f"{method} {_path(path)}: HTTP {response.status_code}"
                if response.status_code not in RETRY_STATUSES:
                    self._on_call("rejected")
                    raise FetchFailed(reason, retryable=False)
                retry_after = _retry_after(response)
            self._on_call("retried" if attempt < self._attempts else "failed")
            if attempt < self._attempts:
                backoff = self._backoff_s * 2 ** (attempt - 1) * (0.5 + random.random())
                log.warning("ATS API call failed; retrying", extra={"reason": reason, "attempt": attempt})
                await self._sleep(max(backoff, retry_after or 0.0))
        raise FetchFailed(f"{reason} after {self._attempts} tries")

    async def close(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


def _path(url: str) -> str:
    """A request's path for error records (a next-page link is a full URL: its host and query stay out)."""
    return httpx.URL(url).path if "://" in url else url


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return min(float(value), MAX_RETRY_AFTER_S)
    except ValueError:
        return None
