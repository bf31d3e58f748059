"""OIDC bearer tokens for recruiter and admin endpoints: RS256 JWTs checked against the issuer's JWKS.

The key set is fetched over HTTP and cached for JWKS_TTL_S. A token naming a key id the cache does
not hold refetches it once (the identity provider rotated its keys), at most every REFETCH_MIN_S, so
random key ids cannot make us hammer the provider. Only RS256 is accepted: never `none`, never an
HMAC algorithm keyed with the public key. exp, iss and aud are required; nbf is honoured when present.
Tokens and claims are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import jwt

log = logging.getLogger(__name__)
ALGORITHM = "RS256"
JWKS_TTL_S = 300.0
REFETCH_MIN_S = 30.0
LEEWAY_S = 30  # clock skew between us and the identity provider


class OidcSettings(Protocol):
    """The settings a service offers for OIDC (fields <SERVICE>_OIDC_*)."""

    oidc_issuer: str | None
    oidc_audience: str | None
    oidc_jwks_url: str | None
    oidc_role_claim: str
    oidc_roles: list[str]


@dataclass(frozen=True)
class OidcConfig:
    """Which tokens a service accepts."""

    issuer: str
    audience: str
    jwks_url: str
    role_claim: str = "roles"
    roles: tuple[str, ...] = ("recruiter",)


class InvalidBearerError(Exception):
    """Not a valid token of our issuer for us (answer 401)."""


class MissingRoleError(Exception):
    """A valid token without a required role or scope (answer 403)."""


class JwksUnavailableError(Exception):
    """The identity provider's keys cannot be fetched (answer 503)."""


def oidc_config(s: OidcSettings) -> OidcConfig | None:
    """The service's OIDC configuration; None when off; ValueError when only partly set."""
    parts = {"OIDC_ISSUER": s.oidc_issuer, "OIDC_AUDIENCE": s.oidc_audience, "OIDC_JWKS_URL": s.oidc_jwks_url}
    if not any(parts.values()):
        return None
    missing = [name for name, value in parts.items() if not value]
    if missing:
        raise ValueError(f"OIDC is partly configured: also set {', '.join(missing)}")
    roles = tuple(r for r in s.oidc_roles if r)
    if not roles:
        raise ValueError("OIDC_ROLES must name at least one role or scope")
    return OidcConfig(s.oidc_issuer or "", s.oidc_audience or "", s.oidc_jwks_url or "", s.oidc_role_claim, roles)


class JwksCache:
    """The issuer's signing keys by key id, fetched over HTTP and cached."""

    def __init__(self, url: str, timeout_s: float = 5.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.url, self.timeout_s, self._clock = url, timeout_s, clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> jwt.PyJWK:
        """The RS256 key with this id (the only key when the token names none)."""
        async with self._lock:
            now = self._clock()
            stale = self._fetched_at is None or now - self._fetched_at > JWKS_TTL_S
            unknown = kid not in self._keys if kid else len(self._keys) != 1
            may_fetch = self._attempted_at is None or now - self._attempted_at > REFETCH_MIN_S
            if (stale or unknown) and may_fetch:
                self._attempted_at = now
                await self._fetch()
        if not self._keys:
            raise JwksUnavailableError("the identity provider's keys cannot be fetched")
        if kid is None:
            if len(self._keys) == 1:
                return next(iter(self._keys.values()))
            raise InvalidBearerError("the token names no key (kid) and the issuer has several")
        try:
            return self._keys[kid]
        except KeyError:
            raise InvalidBearerError("the token is signed with a key the issuer does not publish") from None

    async def _fetch(self) -> None:
        """Replace the keys; on failure keep the ones we have (an outage must not lock recruiters out)."""
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.get(self.url, headers={"Accept": "application/json"})
                response.raise_for_status()
                keys = _rsa_keys(response.json())
        except (httpx.HTTPError, ValueError, jwt.PyJWTError) as e:
            log.warning("could not fetch the OIDC key set", extra={"error": type(e).__name__})
            return
        self._keys, self._fetched_at = keys, self._clock()


def _rsa_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The signing keys of a JWKS usable for RS256, by key id (others and unreadable ones are skipped)."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        try:
            keys[str(entry.get("kid", ""))] = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except jwt.PyJWTError:
            continue
    if not keys:
        raise ValueError("the key set holds no RS256 signing key")
    return keys


def roles_of(claims: Mapping[str, Any], claim: str) -> set[str]:
    """The roles or scopes a token grants: a list, or a space-separated string (`scope`); dots nest."""
    value: Any = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return set(value.split())
    if isinstance(value, Sequence):
        return {str(v) for v in value}
    return set()


class OidcVerifier:
    """Checks bearer tokens against one issuer, audience and set of roles."""

    def __init__(self, config: OidcConfig, jwks: JwksCache | None = None) -> None:
        self.config = config
        self._jwks = jwks or JwksCache(config.jwks_url)

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims when it is valid and grants a required role; else an error saying why."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidBearerError("the bearer token is not a JWT") from None
        if header.get("alg") != ALGORITHM:
            raise InvalidBearerError(f"only {ALGORITHM} tokens are accepted")
        key = await self._jwks.key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                audience=self.config.audience,
                issuer=self.config.issuer,
                leeway=LEEWAY_S,
                options={"require": ["exp", "iss", "aud"], "enforce_minimum_key_length": True},
            )
        except jwt.PyJWTError as e:
            raise InvalidBearerError(f"the token {_why(e)}") from None
        if not roles_of(claims, self.config.role_claim) & set(self.config.roles):
            raise MissingRoleError(f"the token grants none of the required roles in '{self.config.role_claim}'")
        return claims


def _why(error: jwt.PyJWTError) -> str:
    """Why a token was refused, in our words (PyJWT's messages may quote parts of the token)."""
    if isinstance(error, jwt.MissingRequiredClaimError):
        return f"lacks the {error.claim} claim"
    reasons: dict[type[jwt.PyJWTError], str] = {
        jwt.ExpiredSignatureError: "has expired",
        jwt.ImmatureSignatureError: "is not valid yet",
        jwt.InvalidAudienceError: "is for another audience",
        jwt.InvalidIssuerError: "is from another issuer",
        jwt.InvalidSignatureError: "has a bad signature",
    }
    return next((text for cls, text in reasons.items() if isinstance(error, cls)), "is malformed")


def oidc_verifier(s: OidcSettings) -> OidcVerifier | None:
    """A verifier for the service's settings, or None when OIDC is off."""
    config = oidc_config(s)
    return OidcVerifier(config) if config else None
