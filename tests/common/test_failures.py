"""Failure classification (transient vs deterministic), safe reasons, and the input guard's backoff and readiness."""

from __future__ import annotations

import errno

import pytest
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    NotLeaderForPartitionError,
    RequestTimedOutError,
)
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError
from pymongo.errors import (
    AutoReconnect,
    DocumentTooLarge,
    DuplicateKeyError,
    ExecutionTimeout,
    NetworkTimeout,
    NotPrimaryError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WTimeoutError,
)

from services.common.failures import TransientError, failure_reason, is_transient
from services.common.guard import InputGuard


class SnapshotLateError(TransientError):
    """A service's own transient failure, declared by subclassing."""


class ViewBehindError(RuntimeError):
    """A service's own transient failure, declared where the guard is built."""


def raised(exc: BaseException) -> BaseException:
    """The exception with a traceback, as a handler would raise it."""
    try:
        raise exc
    except BaseException as caught:  # noqa: BLE001
        return caught


TRANSIENT = [
    ServerSelectionTimeoutError("no servers"),
    AutoReconnect("reset"),
    NetworkTimeout("timed out"),
    NotPrimaryError("stepped down"),
    ExecutionTimeout("operation exceeded time limit", 50),
    WTimeoutError("waiting for replication timed out", 64),
    OperationFailure("interrupted at shutdown", 11600),
    OperationFailure("Authentication failed.", 18),
    OperationFailure("retryable", 1, {"errorLabels": ["RetryableWriteError"]}),
    KafkaConnectionError("broker down"),
    KafkaTimeoutError(),
    NotLeaderForPartitionError(),
    RequestTimedOutError(),
    ConnectionRefusedError(errno.ECONNREFUSED, "refused"),
    ConnectionResetError(),
    TimeoutError(),
    OSError(errno.EHOSTUNREACH, "no route to host"),
    SnapshotLateError("snapshot not in the view yet"),
]
DETERMINISTIC = [
    OverflowError("MongoDB can only handle up to 8-byte ints"),
    UnicodeEncodeError("ascii", "jösé", 1, 2, "ordinal not in range(128)"),
    DuplicateKeyError("E11000 duplicate key"),
    DocumentTooLarge("too large"),
    OperationFailure("BadValue", 2),
    MessageSizeTooLargeError(),
    KeyError("channel"),
    ValueError("bad"),
    FileNotFoundError(errno.ENOENT, "no such file"),
    ViewBehindError("view behind"),  # only transient where a service declares it
]


@pytest.mark.parametrize("exc", TRANSIENT, ids=lambda e: type(e).__name__)
def test_outages_and_timeouts_are_transient(exc: BaseException) -> None:
    assert is_transient(exc)


@pytest.mark.parametrize("exc", DETERMINISTIC, ids=lambda e: type(e).__name__)
def test_values_refused_and_bugs_are_deterministic(exc: BaseException) -> None:
    assert not is_transient(exc)


def test_a_service_declares_its_own_transient_classes() -> None:
    assert is_transient(ViewBehindError("view behind"), (ViewBehindError,))
    assert InputGuard(transient=(ViewBehindError,)).is_transient(ViewBehindError())
    assert not InputGuard().is_transient(ViewBehindError())


def chained(outer: Exception, inner: Exception, explicit: bool) -> BaseException:
    """`outer` raised while handling `inner`: `from inner` (explicit) or merely during it."""
    try:
        try:
            raise inner
        except Exception as cause:
            if explicit:
                raise outer from cause
            raise outer from None
    except Exception as caught:  # noqa: BLE001
        return caught


def test_a_wrapped_outage_and_a_group_with_an_outage_are_transient() -> None:
    assert is_transient(chained(RuntimeError("saving the batch failed"), AutoReconnect("reset"), explicit=True))
    assert is_transient(ExceptionGroup("sends", [ValueError("x"), KafkaConnectionError()]))
    assert not is_transient(ExceptionGroup("sends", [ValueError("x"), KeyError("y")]))
    # An exception merely raised while handling another (no `from`) says nothing about the first.
    assert not is_transient(chained(KeyError("bug in the error path"), AutoReconnect("reset"), explicit=False))


class Contact(BaseModel):
    email: str
    age: int


def test_reasons_name_class_and_place_but_never_input_values() -> None:
    reason = failure_reason(raised(UnicodeEncodeError("ascii", "josé@exämple.org", 3, 4, "ordinal not in range(128)")))
    assert reason.startswith("UnicodeEncodeError: ascii: ordinal not in range(128) at tests/common/test_failures.py:")
    assert "exämple" not in reason and "josé" not in reason and "é" not in reason
    leaky = failure_reason(raised(ValueError("cannot store sanne@example.org")))
    assert leaky.startswith("ValueError at tests/common/test_failures.py:") and "sanne" not in leaky
    assert failure_reason(OverflowError("x")) == "OverflowError", "no traceback, no place"
    mongo = failure_reason(raised(DuplicateKeyError("E11000 dup key: { _id: 'sanne@example.org' }")))
    assert mongo.startswith("pymongo.errors.DuplicateKeyError at ") and "sanne" not in mongo
    with pytest.raises(ValidationError) as invalid:
        Contact.model_validate({"email": 12345, "age": "secret-value"})
    rendered = failure_reason(invalid.value)
    assert "email: Input should be a valid string" in rendered and "age:" in rendered
    assert "12345" not in rendered and "secret-value" not in rendered


def test_backoff_doubles_with_jitter_up_to_the_cap_and_is_per_handler() -> None:
    guard = InputGuard(backoff_s=1.0, backoff_max_s=8.0)
    delays = [guard.failed("router:on_inputs", KafkaConnectionError()) for _ in range(6)]
    for delay, full in zip(delays, (1, 2, 4, 8, 8, 8), strict=True):
        assert full / 2 <= delay <= full
    assert 0.5 <= guard.failed("notifier:on_dispatch_email", AutoReconnect()) <= 1.0
    guard.succeeded("router:on_inputs")
    assert guard.failed("router:on_inputs", KafkaConnectionError()) <= 1.0, "a success resets the backoff"


def test_readiness_names_the_failing_handlers_until_they_succeed_or_go_quiet() -> None:
    now = [100.0]
    registry = CollectorRegistry()
    guard = InputGuard(backoff_s=1.0, backoff_max_s=30.0, registry=registry, clock=lambda: now[0])
    guard.expect("router:on_inputs")
    assert guard.problems() == {}
    assert registry.get_sample_value("consumer_backing_off", {"handler": "router:on_inputs"}) == 0
    guard.failed("router:on_inputs", raised(ServerSelectionTimeoutError("no servers")))
    now[0] += 4
    guard.failed("router:on_inputs", raised(ServerSelectionTimeoutError("no servers")))
    reason = guard.problems()["inputs"]
    assert reason.startswith("router:on_inputs retrying for 4s (2 tries): pymongo.errors.ServerSelectionTimeoutError")
    assert registry.get_sample_value("consumer_backing_off", {"handler": "router:on_inputs"}) == 1
    assert registry.get_sample_value("consumer_transient_failures_total", {"handler": "router:on_inputs"}) == 2
    guard.succeeded("router:on_inputs")
    assert guard.problems() == {}
    assert registry.get_sample_value("consumer_backing_off", {"handler": "router:on_inputs"}) == 0
    # A handler whose partitions moved away never sees its batch again: after 3 backoff caps it is forgotten.
    guard.failed("router:on_inputs", KafkaConnectionError())
    now[0] += 89
    assert "inputs" in guard.problems()
    now[0] += 2
    assert guard.problems() == {}
