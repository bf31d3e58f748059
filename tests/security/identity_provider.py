"""A test identity provider: generated RSA keys, a JWKS served over a real socket, tokens signed with them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.notifier.provider_doubles import serving

AUDIENCE = "candidate-comms"
JWKS_PATH = "/.well-known/jwks.json"


def new_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IdentityProvider:
    """Publishes the public halves of its keys and signs tokens; counts JWKS fetches."""

    def __init__(self) -> None:
        self.issuer = ""  # set once it listens
        self.keys: dict[str, rsa.RSAPrivateKey] = {}
        self.fetches = 0
        self.extra: list[dict[str, Any]] = []  # published besides our keys (unusable ones, for robustness)
        self.rotate()

    def rotate(self) -> str:
        """Add a new signing key (the new current one); its key id."""
        kid = uuid.uuid4().hex[:12]
        self.keys[kid] = new_key()
        self.kid = kid
        return kid

    def jwks(self) -> dict[str, Any]:
        """The public keys as a JWKS document."""
        keys = []
        for kid, key in self.keys.items():
            jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": [*self.extra, *keys]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        """Valid claims for our audience with the recruiter role; overrides replace (None removes)."""
        now = int(time.time())
        base = {"iss": self.issuer, "aud": AUDIENCE, "sub": "femke", "iat": now, "exp": now + 300}
        merged = {**base, "roles": ["recruiter"], **overrides}
        return {k: v for k, v in merged.items() if v is not None}

    def token(self, key: rsa.RSAPrivateKey | None = None, kid: str | None = "", **overrides: Any) -> str:
        """An RS256 token signed with the current key (or `key`), naming `kid` (default: the current one)."""
        headers = {"kid": self.kid if kid == "" else kid} if kid is not None else {}
        return jwt.encode(self.claims(**overrides), key or self.keys[self.kid], algorithm="RS256", headers=headers)

    def unsigned(self) -> str:
        """The same claims with alg none and no signature."""
        return jwt.encode(self.claims(), None, algorithm="none")

    def hmac_with_public_key(self) -> str:
        """HS256 keyed with the public key's PEM: the classic algorithm-confusion forgery (built by hand)."""
        pem = (
            self.keys[self.kid]
            .public_key()
            .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        )
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.kid}).encode())
        payload = _b64(json.dumps(self.claims()).encode())
        signature = hmac.new(pem, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def app(self) -> Starlette:
        """The provider's HTTP face: its JWKS."""

        async def jwks(_: Request) -> Response:
            self.fetches += 1
            return JSONResponse(self.jwks())

        return Starlette(routes=[Route(JWKS_PATH, jwks)])


@asynccontextmanager
async def identity_provider() -> AsyncIterator[IdentityProvider]:
    """An identity provider listening on a free port of 127.0.0.1 (uvicorn)."""
    idp = IdentityProvider()
    async with serving(idp.app()) as url:
        idp.issuer = url
        yield idp
