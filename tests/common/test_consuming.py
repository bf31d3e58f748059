"""Batch handling: a batch that times out is retried in halves, in order, instead of whole for ever; a
record that fails deterministically is narrowed down and dead-lettered; transient failures back off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.kafka.annotations import KafkaMessage
from prometheus_client import CollectorRegistry
from pymongo.errors import AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError

from schemas.ats import ATS_EVENT_ADAPTER, ATS_EVENT_TYPES
from schemas.envelope import DecodeError, EventDecoder
from services.common.consuming import IDLE_POLL_MS, Isolation, decode_batch, handle_in_halves, subscribe_batch
from services.common.failures import SystematicFailureError, is_transient
from services.common.guard import InputGuard
from services.common.kafka import DeadLetters
from tests.support import ats_event


def batch(n: int) -> list[tuple[Any, int]]:
    return [(None, i) for i in range(n)]


async def test_a_batch_too_big_for_the_time_limit_is_handled_in_halves_in_order() -> None:
    done: list[int] = []

    async def handle(items: list[tuple[Any, int]]) -> None:
        if len(items) > 3:
            raise NetworkTimeout("timed out")
        done.extend(i for _, i in items)

    await handle_in_halves(handle, batch(10))
    assert done == list(range(10))


async def test_a_single_record_that_times_out_fails_the_batch() -> None:
    async def handle(items: list[tuple[Any, int]]) -> None:
        if any(i == 7 for _, i in items):
            raise TimeoutError("still too slow")

    with pytest.raises(TimeoutError):
        await handle_in_halves(handle, batch(10))


async def test_other_errors_are_not_split() -> None:
    calls = 0

    async def handle(items: list[tuple[Any, int]]) -> None:
        nonlocal calls
        calls += 1
        raise ConnectionError("database down")

    with pytest.raises(ConnectionError):
        await handle_in_halves(handle, batch(10))
    assert calls == 1


# --- deterministic failures: narrowed down to the record, dead-lettered after a few tries -------------


class Rec:
    """A consumed record as the handler sees it (topic, partition, offset, key, value, headers)."""

    def __init__(self, offset: int) -> None:
        self.topic, self.partition, self.offset = "router.in", 2, offset
        self.key, self.value, self.headers = b"cand", b"{}", ()


def records(n: int) -> list[tuple[Any, int]]:
    return [(Rec(i), i) for i in range(n)]


class Poisoned:
    """A handler that stores what it is given, and refuses (like the database) any batch holding a poison."""

    def __init__(self, poison: set[int], error: Exception | None = None) -> None:
        self.poison = poison
        self.error = error or OverflowError("MongoDB can only handle up to 8-byte ints")
        self.stored: list[int] = []
        self.tries: dict[int, int] = {}  # failures of a poison record handled alone

    async def __call__(self, items: list[tuple[Any, int]]) -> None:
        for _, i in items:
            if i in self.poison:
                if len(items) == 1:
                    self.tries[i] = self.tries.get(i, 0) + 1
                raise self.error
            self.stored.append(i)


def isolation(attempts: int = 3) -> tuple[Isolation, list[tuple[Any, DecodeError]]]:
    """A batch's isolation and the records it set aside for the DLQ (the same list)."""
    iso = Isolation(attempts, is_transient)
    return iso, iso.poisoned


async def test_a_poison_record_is_dead_lettered_after_n_tries_and_every_other_record_is_stored() -> None:
    handle = Poisoned({13})
    iso, dead = isolation(attempts=3)
    await handle_in_halves(handle, records(40), iso)
    assert [(r.offset, e.kind) for r, e in dead] == [(13, "processing_failed")]
    assert handle.tries == {13: 3}
    # Idempotent handlers may see a record again (the failed wider attempts); the last write of each is in order.
    assert sorted(set(handle.stored)) == [i for i in range(40) if i != 13]
    assert list(dict.fromkeys(reversed(handle.stored)))[::-1] == [i for i in range(40) if i != 13]
    reason = dead[0][1].reason
    assert reason.startswith("OverflowError at ") and "failed 3 times in a row" in reason
    assert "8-byte" not in reason, "exception messages may quote input values; only the class and place"


async def test_two_poison_records_in_one_batch_are_both_isolated() -> None:
    handle = Poisoned({0, 7})
    iso, dead = isolation(attempts=2)
    await handle_in_halves(handle, records(8), iso)
    assert [r.offset for r, _ in dead] == [0, 7]
    assert set(handle.stored) == {1, 2, 3, 4, 5, 6}


async def test_a_record_that_fails_once_and_then_succeeds_is_not_dead_lettered() -> None:
    flaky = Poisoned({3})

    async def handle(items: list[tuple[Any, int]]) -> None:
        if flaky.tries.get(3, 0) >= 2:  # fails twice alone, then goes through: not three in a row
            flaky.poison.clear()
        await flaky(items)

    iso, dead = isolation(attempts=3)
    await handle_in_halves(handle, records(4), iso)
    assert dead == []
    assert 3 in flaky.stored and iso.handled


async def test_one_attempt_dead_letters_at_the_first_failure() -> None:
    handle = Poisoned({0})
    iso, dead = isolation(attempts=1)
    await handle_in_halves(handle, records(1), iso)
    assert handle.tries == {0: 1} and len(dead) == 1
    assert not iso.handled


async def test_a_transient_failure_while_narrowing_down_raises_and_dead_letters_nothing() -> None:
    handle = Poisoned({5})

    async def handle_until_the_database_goes(items: list[tuple[Any, int]]) -> None:
        if len(items) == 1:
            raise ServerSelectionTimeoutError("no primary")
        await handle(items)

    iso, dead = isolation()
    with pytest.raises(ServerSelectionTimeoutError):
        await handle_in_halves(handle_until_the_database_goes, records(6), iso)
    assert dead == []


async def test_a_transient_failure_is_not_split() -> None:
    calls = 0

    async def handle(items: list[tuple[Any, int]]) -> None:
        nonlocal calls
        calls += 1
        raise AutoReconnect("connection reset")

    iso, dead = isolation()
    with pytest.raises(AutoReconnect):
        await handle_in_halves(handle, records(10), iso)
    assert calls == 1 and dead == []


async def test_a_single_record_that_times_out_is_retried_not_dead_lettered() -> None:
    async def handle(items: list[tuple[Any, int]]) -> None:
        if any(i == 2 for _, i in items):
            raise NetworkTimeout("timed out")

    iso, dead = isolation()
    with pytest.raises(NetworkTimeout):
        await handle_in_halves(handle, records(4), iso)
    assert dead == []


# --- the subscriber: dead letters on the topic's DLQ, the batch committed, readiness while backing off ----


def ats(candidate: str, sequence: int = 0) -> bytes:
    return json.dumps(ats_event("ats.interview.scheduled", candidate, sequence=sequence)).encode()


def subscriber(handle: Any, guard: InputGuard) -> tuple[KafkaBroker, list[dict[str, str]]]:
    broker = KafkaBroker()
    subscribe_batch(
        broker,
        ["ats.accepted"],
        group_id="router",
        decoder=EventDecoder(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000),
        dead_letters=DeadLetters(broker, "router", guard=guard),
        handle=handle,
        title="router:on_inputs",
    )
    dead: list[dict[str, str]] = []

    @broker.subscriber("ats.accepted.dlq")
    async def on_dead_letter(body: Any, message: KafkaMessage) -> None:
        dead.append(dict(message.headers) | {"subject": body["subject"]})

    return broker, dead


async def test_the_subscriber_dead_letters_the_poison_and_handles_the_other_candidates() -> None:
    stored: list[str] = []

    async def handle(batch: list[tuple[Any, Any]]) -> None:
        for _, event in batch:
            if event.data.interview.sequence > 1000:  # e.g. a value the store cannot hold
                raise OverflowError("MongoDB can only handle up to 8-byte ints")
            stored.append(event.subject)

    guard = InputGuard(poison_attempts=3)
    broker, dead = subscriber(handle, guard)
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(ats("anna"), ats("poison", sequence=2**40), ats("bram"), topic="ats.accepted")
    assert sorted(set(stored)) == ["anna", "bram"]
    assert len(dead) == 1
    headers = dead[0]
    assert headers["subject"] == "poison", "the original value is kept for a redrive"
    assert headers["dlq.error.kind"] == "processing_failed"
    assert headers["dlq.error.reason"].startswith("OverflowError at tests/common/test_consuming.py:")
    assert headers["dlq.original.topic"] == "ats.accepted"
    assert guard.problems() == {}


async def test_a_transient_failure_backs_off_marks_inputs_not_ready_and_clears_on_success() -> None:
    down = True

    async def handle(batch: list[tuple[Any, Any]]) -> None:
        if down:
            raise ServerSelectionTimeoutError("localhost:27017: [Errno 111] Connection refused")

    registry = CollectorRegistry()
    guard = InputGuard(backoff_s=0.01, backoff_max_s=0.05, registry=registry)
    broker, dead = subscriber(handle, guard)
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(ServerSelectionTimeoutError):  # the test broker hands the error to the publisher
            await br.publish_batch(ats("anna"), topic="ats.accepted")
        problems = guard.problems()
        assert list(problems) == ["inputs"]
        assert "router:on_inputs" in problems["inputs"]
        assert "pymongo.errors.ServerSelectionTimeoutError" in problems["inputs"]
        assert registry.get_sample_value("consumer_backing_off", {"handler": "router:on_inputs"}) == 1
        down = False
        await br.publish_batch(ats("anna"), topic="ats.accepted")
    assert dead == [], "a transient failure is never dead-lettered"
    assert guard.problems() == {}
    assert registry.get_sample_value("consumer_transient_failures_total", {"handler": "router:on_inputs"}) == 1
    assert registry.get_sample_value("consumer_backing_off", {"handler": "router:on_inputs"}) == 0


async def test_a_decoder_that_raises_something_else_dead_letters_that_record_only() -> None:
    class Brittle(EventDecoder[Any]):
        def decode(self, raw: bytes | None) -> Any:
            if raw == b"boom":
                raise RecursionError("deep")
            return super().decode(raw)

    records_ = [Rec(0), Rec(1)]
    records_[0].value = b"boom"
    records_[1].value = ats("anna")
    good, bad = decode_batch(records_, Brittle(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000))
    assert [r.offset for r, _ in good] == [1]
    assert [(r.offset, e.kind) for r, e in bad] == [(0, "processing_failed")]
    assert bad[0][1].reason.startswith("decoding failed: RecursionError at ")


# --- every record failing is not poison: a bug or a broken dependency stalls visibly instead ----------


async def test_a_batch_in_which_every_record_fails_is_retried_not_dead_lettered() -> None:
    async def broken(batch: list[tuple[Any, Any]]) -> None:
        raise KeyError("a bug every record meets")

    guard = InputGuard(poison_attempts=2, backoff_s=0.01)
    broker, dead = subscriber(broken, guard)
    async with TestKafkaBroker(broker) as br:
        with pytest.raises(SystematicFailureError):
            await br.publish_batch(*(ats(f"c{i}") for i in range(6)), topic="ats.accepted")
    assert dead == []
    reason = guard.problems()["inputs"]
    assert "SystematicFailureError: 6 records in a row failed deterministically and none went through" in reason
    assert "the last: KeyError at tests/common/test_consuming.py:" in reason


async def test_single_failing_records_are_dead_lettered_until_the_streak_shows_a_systematic_failure() -> None:
    ok: set[str] = set()

    async def handle(batch: list[tuple[Any, Any]]) -> None:
        for _, event in batch:
            if event.subject not in ok:
                raise KeyError("channel")

    guard = InputGuard(poison_attempts=1, backoff_s=0.01, systematic_after=3)
    broker, dead = subscriber(handle, guard)
    async with TestKafkaBroker(broker) as br:
        for name in ("a", "b"):
            await br.publish_batch(ats(name), topic="ats.accepted")
        assert [d["subject"] for d in dead] == ["a", "b"]
        with pytest.raises(SystematicFailureError):
            await br.publish_batch(ats("c"), topic="ats.accepted")
        ok.add("d")  # one record goes through: the failures are the records' after all
        await br.publish_batch(ats("d"), topic="ats.accepted")
        await br.publish_batch(ats("c"), topic="ats.accepted")
    assert [d["subject"] for d in dead] == ["a", "b", "c"]
    assert guard.problems() == {}


async def test_a_decoder_bug_on_every_record_is_systematic_and_on_one_record_is_that_records() -> None:
    class Brittle(EventDecoder[Any]):
        def decode(self, raw: bytes | None) -> Any:
            if raw is not None and b'"boom' in raw:
                raise RecursionError("deep")
            return super().decode(raw)

    stored: list[str] = []

    async def handle(batch: list[tuple[Any, Any]]) -> None:
        stored.extend(e.subject for _, e in batch)

    broker = KafkaBroker()
    guard = InputGuard(backoff_s=0.01)
    decoder = Brittle(ATS_EVENT_ADAPTER, ATS_EVENT_TYPES, 100_000)
    subscribe_batch(
        broker, ["in"], group_id="g", decoder=decoder, dead_letters=DeadLetters(broker, "g", guard=guard), handle=handle
    )
    async with TestKafkaBroker(broker) as br:
        await br.publish_batch(ats("boom-1"), ats("anna"), topic="in")
        with pytest.raises(SystematicFailureError):
            await br.publish_batch(*(ats(f"boom-{i}") for i in range(5)), topic="in")
    assert stored == ["anna"]


# --- a quiet pipeline: a record is handed over when it is fetched, not after an idle sleep ------------


class QuietConsumer:
    """aiokafka's getmany: waits up to the timeout for a record; the first poll finds nothing."""

    def __init__(self) -> None:
        self.polls: list[int] = []

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[str, list[str]]:
        self.polls.append(timeout_ms)
        return {} if len(self.polls) == 1 else {"tp": ["record"]}


async def test_after_an_empty_poll_the_next_poll_starts_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """FastStream's batch subscriber sleeps its batch timeout after an empty poll (a record arriving then
    waits up to 20 ms per hop); ours goes straight back to getmany, which returns on arrival."""
    broker, _ = subscriber(Poisoned(set()), InputGuard())
    (quiet,) = [s for s in broker.subscribers if getattr(s, "batch_timeout_ms", None) == IDLE_POLL_MS]

    async def no_sleep(*_: object) -> None:
        raise AssertionError("slept between polls")

    monkeypatch.setattr("anyio.sleep", no_sleep)
    consumer = QuietConsumer()
    assert await quiet.get_msg(consumer) == ()
    assert await quiet.get_msg(consumer) == ("record",)
    assert consumer.polls == [IDLE_POLL_MS, IDLE_POLL_MS]
