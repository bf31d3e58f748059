"""The adapter interface every channel implements, and what a send can come back with."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from schemas.dispatch import DeliverMessage
from services.notifier.rendering import Rendered


class Outcome(StrEnum):
    """How a send ended."""

    ACCEPTED = "accepted"  # the provider took it: our state becomes `sent`
    PERMANENT = "permanent"  # retrying cannot help (invalid number, rejected content): `failed`
    BOUNCED = "bounced"  # the address does not exist (SMTP 5xx recipient): `bounced`
    TRANSIENT = "transient"  # try again later (timeouts, 429, 5xx)


@dataclass(frozen=True)
class SendResult:
    """The provider's answer, reduced to what the notifier acts on (no contact data in `reason`)."""

    outcome: Outcome
    provider: str
    provider_ref: str | None = None
    reason: str = ""
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Outgoing:
    """Everything an adapter needs for one send."""

    msg: DeliverMessage
    to: str
    rendered: Rendered
    link: str  # the candidate's signed self-service link
    unsubscribe_url: str  # RFC 8058 one-click target for this channel


class ChannelAdapter(Protocol):
    """Delivers one message on one channel."""

    provider: str

    async def send(self, out: Outgoing) -> SendResult: ...

    async def close(self) -> None: ...
