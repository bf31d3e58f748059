"""Who may call what: API keys (or bearer tokens) for recruiter and admin endpoints.

Candidate endpoints never use these: they accept only signed, expiring, single-candidate tokens
(services.common.links). Keys are compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence

from fastapi import Header, HTTPException
from pydantic import SecretStr


def require_api_key(keys: Sequence[SecretStr]) -> Callable[..., None]:
    """A FastAPI dependency accepting `X-API-Key: <key>` or `Authorization: Bearer <key>`."""
    secrets = [k.get_secret_value().encode() for k in keys if k.get_secret_value()]

    def check(x_api_key: str | None = Header(None), authorization: str | None = Header(None)) -> None:
        offered = x_api_key or (authorization[7:] if authorization and authorization.startswith("Bearer ") else None)
        if offered is None:
            raise HTTPException(
                401,
                "an API key is required (X-API-Key or Authorization: Bearer)",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not any(hmac.compare_digest(offered.encode(), s) for s in secrets):
            raise HTTPException(403, "this API key is not accepted")

    return check
