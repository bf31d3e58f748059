"""Failures of input handling: transient (retry with backoff) or deterministic (isolate and dead-letter).

Transient means the world is in the way: the broker or the database is unreachable or slow, a
provider is down. Retrying the same records later succeeds, so they are never dead-lettered; the
service backs off and says so on /ready. Everything else is deterministic: the same record fails the
same way every time (a value the database or an encoder refuses, a bug), so retrying it only stops
the partition; it is narrowed down and dead-lettered (services/common/consuming.py, with the policy
of services/common/guard.py).
"""

from __future__ import annotations

import errno
import socket
import traceback
from collections.abc import Iterator
from pathlib import Path

from aiokafka.errors import KafkaConnectionError, KafkaError, KafkaTimeoutError
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, OperationFailure, WriteConcernError

from schemas.envelope import DecodeError, render_errors

# Dead-letter kind of a record that decoded but failed the same way `poison_attempts` times in a row.
PROCESSING_FAILED = "processing_failed"


class TransientError(Exception):
    """Base of a service's own transient failures (retried with backoff, never dead-lettered)."""


class SystematicFailureError(TransientError):
    """Every record fails deterministically and none goes through: a bug or a broken dependency, not poison.

    Its message is built from safe parts only (counts and failure reasons).
    """


_TRANSIENT: tuple[type[BaseException], ...] = (
    TransientError,
    ConnectionFailure,  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, NotPrimaryError, ...
    ExecutionTimeout,
    WriteConcernError,
    KafkaConnectionError,
    KafkaTimeoutError,
    ConnectionError,  # refused, reset, aborted, broken pipe
    TimeoutError,  # asyncio.TimeoutError is this one since 3.11
    socket.gaierror,
)
# MongoDB server errors that clear up by themselves (failover, shutdown, network) or by fixing the
# deployment (authentication): redelivery succeeds then, so dead-lettering would only lose records.
_MONGO_TRANSIENT_CODES = frozenset({6, 7, 13, 18, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436})
_MONGO_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")
_NETWORK_ERRNOS = frozenset({errno.ECONNREFUSED, errno.ECONNRESET, errno.EHOSTUNREACH, errno.ENETUNREACH})


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    """The exception, what it was raised from, and the members of exception groups."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
        return
    yield exc
    if exc.__cause__ is not None:
        yield from _leaves(exc.__cause__)


def _one_is_transient(exc: BaseException, extra: tuple[type[BaseException], ...]) -> bool:
    if isinstance(exc, _TRANSIENT + extra):
        return True
    if isinstance(exc, KafkaError):
        return bool(exc.retriable)
    if isinstance(exc, OperationFailure):
        labelled = any(exc.has_error_label(label) for label in _MONGO_TRANSIENT_LABELS)
        return labelled or exc.code in _MONGO_TRANSIENT_CODES
    return isinstance(exc, OSError) and exc.errno in _NETWORK_ERRNOS


def is_transient(exc: BaseException, extra: tuple[type[BaseException], ...] = ()) -> bool:
    """True when retrying later can succeed (see the module docstring); `extra` adds a service's own classes."""
    return any(_one_is_transient(e, extra) for e in _leaves(exc))


_ROOT = str(Path(__file__).resolve().parents[2]) + "/"  # the checkout: paths relative to it name no machine
_MACHINERY = ("services/common/consuming.py", "services/common/view.py")


def _path(frame: traceback.FrameSummary) -> str:
    if _own(frame):
        return frame.filename.removeprefix(_ROOT)
    return "/".join(frame.filename.rsplit("/", 2)[-2:])  # a library: its package and file say enough


def _own(frame: traceback.FrameSummary) -> bool:
    return frame.filename.startswith(_ROOT) and "/site-packages/" not in frame.filename


def _where(exc: BaseException) -> str:
    """Where the failure was raised: the innermost frame of the project's code, and the library's if deeper."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.endswith(_MACHINERY)]
    if not frames:
        return ""
    own = [f for f in frames if _own(f)]
    where = own[-1] if own else frames[-1]
    text = f" at {_path(where)}:{where.lineno} in {where.name}"
    if frames[-1] is not where:
        text += f" (raised in {_path(frames[-1])}:{frames[-1].lineno})"
    return text


def failure_reason(exc: BaseException) -> str:
    """The exception's class and place, and details known to hold no input values (safe for headers and logs)."""
    cls = type(exc)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    if isinstance(exc, ValidationError):
        detail = f": {render_errors(exc)}"
    elif isinstance(exc, DecodeError):
        detail = f": {exc.reason}"
    elif isinstance(exc, SystematicFailureError):
        detail = f": {exc}"
    elif isinstance(exc, UnicodeEncodeError | UnicodeDecodeError):
        detail = f": {exc.encoding}: {exc.reason}"  # the offending text itself stays out
    else:
        detail = ""  # messages of other exceptions may quote the input
    return f"{name}{detail}{_where(exc)}"
