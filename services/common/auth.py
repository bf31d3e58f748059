"""Who may call what: API keys or OIDC bearer tokens for recruiter and admin endpoints.

Candidate endpoints never use these: they accept only signed, expiring, single-candidate tokens
(services.common.links). Keys are compared in constant time and never logged; bearer tokens that are
not keys are checked as OIDC tokens when the service is configured for OIDC (services.common.oidc).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Sequence

from fastapi import Header, HTTPException
from pydantic import SecretStr

from services.common.oidc import InvalidBearerError, JwksUnavailableError, MissingRoleError, OidcVerifier

_KEY_REQUIRED = "an API key or bearer token is required (X-API-Key or Authorization: Bearer)"


def _bearer(authorization: str | None) -> str | None:
    scheme, _, value = (authorization or "").partition(" ")
    return (value.strip() or None) if scheme.lower() == "bearer" else None


def _key_matcher(keys: Sequence[SecretStr]) -> Callable[[str], bool]:
    secrets = [k.get_secret_value().encode() for k in keys if k.get_secret_value()]

    def matches(offered: str) -> bool:
        found = False
        for secret in secrets:  # every key every time: timing says nothing about which one matched
            found |= hmac.compare_digest(offered.encode(), secret)
        return found

    return matches


def require_api_key(keys: Sequence[SecretStr]) -> Callable[..., None]:
    """A FastAPI dependency accepting `X-API-Key: <key>` or `Authorization: Bearer <key>`."""
    matches = _key_matcher(keys)

    def check(x_api_key: str | None = Header(None), authorization: str | None = Header(None)) -> None:
        offered = x_api_key or _bearer(authorization)
        if offered is None:
            raise HTTPException(401, _KEY_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
        if not matches(offered):
            raise HTTPException(403, "this API key is not accepted")

    return check


def require_recruiter(keys: Sequence[SecretStr], oidc: OidcVerifier | None = None) -> Callable[..., Awaitable[None]]:
    """A FastAPI dependency accepting an API key, or (when `oidc` is given) an OIDC bearer token.

    Invalid tokens answer 401, valid tokens without a required role 403 (RFC 6750 error codes).
    """
    matches = _key_matcher(keys)

    async def check(x_api_key: str | None = Header(None), authorization: str | None = Header(None)) -> None:
        bearer = _bearer(authorization)
        offered = x_api_key or bearer
        if offered is None:
            raise HTTPException(401, _KEY_REQUIRED, headers={"WWW-Authenticate": "Bearer"})
        if matches(offered):
            return
        if oidc is None or bearer is None or x_api_key is not None:
            raise HTTPException(403, "this API key is not accepted")
        try:
            await oidc.verify(bearer)
        except InvalidBearerError as e:
            raise HTTPException(401, str(e), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
        except MissingRoleError as e:
            raise HTTPException(
                403, str(e), headers={"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
            ) from None
        except JwksUnavailableError as e:
            raise HTTPException(503, str(e), headers={"Retry-After": "30"}) from None

    return check
