"""Property tests of the routing policy (hypothesis): whatever the preferences, time and event,
a revoked channel is never used, intrusive channels never go out in quiet hours, and caps and pauses
hold for everything but essential messages."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.common import Channel, NotificationStatus, PurposeClass
from services.router.policy import Recent, RoutingConfig, plan_event
from services.router.timing import INTRUSIVE, quiet_hours_end
from tests.router.builders import event, prefs

CFG = RoutingConfig()
channels = st.sampled_from(list(Channel))
kinds = st.sampled_from(
    [
        "ats.application.received",
        "ats.stage.changed",
        "ats.interview.scheduled",
        "ats.interview.rescheduled",
        "ats.interview.cancelled",
        "ats.offer.extended",
        "ats.candidate.rejected",
        "ats.candidate.hired",
    ]
)
moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
times = st.times().map(lambda t: time(t.hour, (t.minute // 15) * 15))


@st.composite
def routing_prefs(draw: st.DrawFn) -> object:
    order = tuple(draw(st.lists(channels, min_size=1, max_size=5, unique=True)))
    granted = tuple(draw(st.lists(channels, unique=True)))
    revoked = tuple(c for c in draw(st.lists(channels, unique=True)) if c not in granted)
    paused = draw(st.one_of(st.none(), moments))
    return prefs(
        order,
        granted=granted,
        revoked=revoked,
        explicit=draw(st.booleans()),
        invalid=tuple(draw(st.lists(st.sampled_from([Channel.EMAIL, Channel.SMS]), unique=True))),
        portal=draw(st.booleans()),
        quiet=(draw(times), draw(times)),
        cap_per_day=draw(st.one_of(st.none(), st.integers(1, 5))),
        paused_until=paused,
        timezone=draw(st.sampled_from(["Europe/Amsterdam", "America/New_York", "Asia/Kolkata", "UTC"])),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=routing_prefs(), kind=kinds, now=moments, sent=st.integers(0, 6), in_hours=st.integers(1, 400))
def test_routing_invariants(p: object, kind: str, now: datetime, sent: int, in_hours: int) -> None:
    ev = event(kind, time_=now, start=now + timedelta(hours=in_hours))
    plan = plan_event(ev, p, now, CFG, Recent(last_day=sent, last_week=sent))  # type: ignore[arg-type]
    for msg in plan.messages:
        if msg.channel is None:
            assert msg.state is NotificationStatus.NEEDS_RECRUITER
            continue
        # Never a revoked channel, for any purpose.
        assert p.consent(msg.channel, PurposeClass.APPLICATION).value != "revoked"  # type: ignore[attr-defined]
        assert p.has_contact(msg.channel)  # type: ignore[attr-defined]
        if msg.state is not NotificationStatus.QUEUED:
            continue
        # Queued now: an intrusive channel is never inside the candidate's quiet hours...
        if msg.channel in INTRUSIVE:
            assert quiet_hours_end(p, now) is None  # type: ignore[arg-type]
        # ...and only essential messages pass a pause or a reached cap.
        if not msg.essential:
            assert not (p.paused_until and p.paused_until > now.timestamp())  # type: ignore[attr-defined]
            assert not (p.cap_per_day and sent >= p.cap_per_day)  # type: ignore[attr-defined]
