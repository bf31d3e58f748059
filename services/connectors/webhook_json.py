"""Small readers for ATS webhook JSON: typed access that turns a missing field into Rejected("invalid_payload")."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from services.connectors.adapters import Rejected


def load_object(body: bytes) -> dict[str, Any]:
    """The body as a JSON object; Rejected('invalid_payload') otherwise (after the signature was checked)."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Rejected("invalid_payload", "not valid JSON") from None
    if not isinstance(doc, dict):
        raise Rejected("invalid_payload", "not a JSON object")
    return doc


def obj(doc: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """A nested object that the ATS documents as always present."""
    value = doc.get(key)
    if not isinstance(value, dict):
        raise Rejected("invalid_payload", f"{key} is missing or not an object")
    return value


def text(doc: Mapping[str, Any], key: str, default: str | None = None) -> str:
    """A string or number field as text (ids come as numbers from some ATSs)."""
    value = doc.get(key)
    if isinstance(value, bool) or value is None or value == "":
        if default is not None:
            return default
        raise Rejected("invalid_payload", f"{key} is missing")
    if isinstance(value, str | int):
        return str(value)
    raise Rejected("invalid_payload", f"{key} is not a string or number")


def optional_text(doc: Mapping[str, Any], key: str) -> str | None:
    """A string field that may be absent or null."""
    value = doc.get(key)
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and value != "" else None


def items(doc: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    """The objects of a list field (absent: empty)."""
    value = doc.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def timestamp(value: object) -> datetime | None:
    """An RFC 3339 time as the ATSs write it ('Z' or an offset), None when absent or not one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
