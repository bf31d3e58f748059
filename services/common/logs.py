"""Structured JSON logs (structlog) with contact data masked before anything is written."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping, Sequence
from typing import Any

import structlog

from services.common.tracing import add_trace_ids

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+\d{7,15}")


def mask(text: str) -> str:
    """Replace e-mail addresses and E.164 numbers in free text (keeps the country code for debugging)."""
    text = _EMAIL.sub("<email>", text)
    return _PHONE.sub(lambda m: m.group(0)[:3] + "*" * (len(m.group(0)) - 3), text)


def _mask_values(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key, value in event.items():
        if isinstance(value, str):
            event[key] = mask(value)
        elif isinstance(value, list | tuple):
            event[key] = [mask(v) if isinstance(v, str) else v for v in value]
    return event


def _mask_line(_: Any, __: str, line: Any) -> str:
    return mask(str(line))


# How many ids a batch binds at most (a log line stays short; the count says how many there were).
MAX_BOUND_IDS = 20


def correlation_ids(events: Sequence[Any], header_ids: Sequence[str | None] = ()) -> dict[str, Any]:
    """Log context for records being handled: their CloudEvents ids and the notification ids they carry.

    One record binds `event_id` (and `notification_id`); a batch binds lists, capped at MAX_BOUND_IDS.
    `header_ids` are the records' correlation_id headers (set by our producers to the event id).
    """
    event_ids = [str(i) for e in events if (i := getattr(e, "id", None))]
    notification_ids = [str(n) for e in events if (n := getattr(getattr(e, "data", None), "notification_id", None))]
    correlations = sorted({h for h in header_ids if h} - set(event_ids))
    out: dict[str, Any] = {}
    for name, ids in (("event_id", event_ids), ("notification_id", notification_ids), ("correlation_id", correlations)):
        if len(ids) == 1:
            out[name] = ids[0]
        elif ids:
            out[f"{name}s"] = ids[:MAX_BOUND_IDS]
    if len(events) > 1:
        out["batch_size"] = len(events)
    return out


def configure_logging(service: str, level: str = "INFO") -> None:
    """JSON lines on stdout for this process; stdlib logging (FastStream, uvicorn) goes the same way."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.ExtraAdder(),
        add_trace_ids,
        _mask_values,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            lambda _, __, ev: {"service": service, **ev},
            structlog.processors.format_exc_info,
            _mask_values,
            structlog.processors.JSONRenderer(),
            _mask_line,  # also what nested values and reprs (exceptions, models) carry
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # FastStream's loggers do not propagate and would add plain-text handlers of their own (unmasked,
    # not JSON) unless a stdout handler is there already: give them ours.
    for name in ("faststream", "faststream.access.kafka"):
        logging.getLogger(name).handlers[:] = [handler]
    # aiokafka reports every coordinator change at INFO/ERROR; warnings are enough here.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
