"""Webhook signatures: Twilio's X-Twilio-Signature (verify) and our portal webhook's X-Signature (sign).

Twilio signs a callback with HMAC-SHA1, keyed by the account's auth token, over the full URL it
requested followed by every POST parameter as name + value, names in sorted order (values of a
repeated name sorted too, duplicates counted once), base64-encoded. Because Twilio is not
consistent about the default port in that URL, a signature over the URL with or without
`:443`/`:80` is accepted. This module mirrors the rules of the official `RequestValidator` (the
tests hold it to that reference) without depending on the twilio package at runtime.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from urllib.parse import urlparse

TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
PORTAL_SIGNATURE_HEADER = "X-Signature"
PORTAL_TIMESTAMP_HEADER = "X-Timestamp"

Params = Mapping[str, str] | Iterable[tuple[str, str]]


def _pairs(params: Params) -> set[tuple[str, str]]:
    items = params.items() if isinstance(params, Mapping) else params
    return set(items)


def twilio_signature(token: str, url: str, params: Params) -> str:
    """The X-Twilio-Signature of a request to `url` with these form parameters."""
    signed = url + "".join(name + value for name, value in sorted(_pairs(params)))
    digest = hmac.new(token.encode(), signed.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _url_variants(url: str) -> tuple[str, str]:
    """The URL without its port and with the scheme's port made explicit (Twilio signs either)."""
    parsed = urlparse(url)
    port = parsed.port  # raises ValueError on a malformed port
    if port:
        return parsed._replace(netloc=parsed.netloc.split(":")[0]).geturl(), parsed.geturl()
    default = 443 if parsed.scheme == "https" else 80
    return parsed.geturl(), parsed._replace(netloc=f"{parsed.netloc}:{default}").geturl()


def verify_twilio(token: str, url: str, params: Params, signature: str | None) -> bool:
    """True when `signature` is Twilio's signature of this request (constant-time comparison)."""
    if not signature:
        return False
    try:
        variants = _url_variants(url)
    except ValueError:
        return False
    pairs = _pairs(params)
    given = signature.encode()
    # Compare against both variants every time, so timing says nothing about which one matched.
    matches = [hmac.compare_digest(twilio_signature(token, v, pairs).encode(), given) for v in variants]
    return any(matches)


def portal_signature(secret: str, body: bytes) -> str:
    """The portal webhook's X-Signature value: sha256=<hex HMAC-SHA256 of the raw body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_portal(secret: str, body: bytes, header: str | None) -> bool:
    """True when `header` is the X-Signature of this body."""
    return bool(header) and hmac.compare_digest(portal_signature(secret, body).encode(), (header or "").encode())
