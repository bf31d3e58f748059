"""Rate limits on public endpoints: in-process token buckets, keyed by client address and by link token.

ASGI middleware in front of the app: a request under a limited path prefix takes one token from the
bucket of its client address and, where the rule says so, from the bucket of the token in its path
(the first segment after the prefix: a self-service link); an empty bucket answers 429 with
Retry-After. Buckets live in this process (each instance limits on its own) and the least recently
used are forgotten beyond MAX_KEYS, so memory stays bounded whatever an attacker sends. Behind a
proxy the client address is the proxy's unless uvicorn trusts its X-Forwarded-For (FORWARDED_ALLOW_IPS).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

MAX_KEYS = 10_000
Clock = Callable[[], float]


@dataclass(frozen=True)
class Rule:
    """Limits for the paths under one prefix: requests per minute per address and per token (0: none)."""

    name: str
    prefix: str
    per_address_per_minute: int
    per_token_per_minute: int = 0


class TokenBuckets:
    """One token bucket per key: `per_minute` tokens a minute, bursts up to `per_minute`."""

    def __init__(self, per_minute: int, clock: Clock = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        self.capacity = float(per_minute)
        self.rate_per_s = per_minute / 60.0
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """Take a token: 0.0 when allowed, else the seconds until one is available."""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate_per_s)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate_per_s
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:
            self._buckets.popitem(last=False)  # a forgotten key starts full: the oldest matter least
        return wait


class RateLimit:
    """ASGI middleware applying the first matching rule to each HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        rules: Sequence[Rule],
        registry: CollectorRegistry | None = None,
        clock: Clock = time.monotonic,
    ) -> None:
        self.app = app
        self._rules = [
            (
                rule,
                TokenBuckets(rule.per_address_per_minute, clock) if rule.per_address_per_minute else None,
                TokenBuckets(rule.per_token_per_minute, clock) if rule.per_token_per_minute else None,
            )
            for rule in rules
        ]
        self._limited = Counter(
            "http_rate_limited_requests",
            "Requests refused with 429 by endpoint group and by what was limited (address or link token).",
            ["endpoint", "by"],
            registry=registry,
        )
        for rule, by_address, by_token in self._rules:
            for by, buckets in (("address", by_address), ("token", by_token)):
                if buckets is not None:
                    self._limited.labels(endpoint=rule.name, by=by)  # report zero from the start

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            wait = self._check(scope)
            if wait > 0:
                retry = str(max(1, math.ceil(wait)))
                response = PlainTextResponse(
                    f"too many requests; try again in {retry} s", status_code=429, headers={"Retry-After": retry}
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _check(self, scope: Scope) -> float:
        """Seconds the request must wait (0.0: let it through); takes tokens as a side effect."""
        path: str = scope.get("path", "")
        for rule, by_address, by_token in self._rules:
            if not path.startswith(rule.prefix):
                continue
            client = scope.get("client")
            address = client[0] if client else "unknown"
            if by_address is not None and (wait := by_address.take(address)) > 0:
                self._limited.labels(endpoint=rule.name, by="address").inc()
                return wait
            token = path[len(rule.prefix) :].split("/", 1)[0]
            if by_token is not None and token and (wait := by_token.take(token)) > 0:
                self._limited.labels(endpoint=rule.name, by="token").inc()
                return wait
            return 0.0
        return 0.0
