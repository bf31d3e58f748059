"""The dispatch command is the router's record of a message that went out: what a fallback needs comes back from it.

The router stores no decision that went straight out; when the notifier reports it failed or bounced, the
command is read back from its topic, and the fallback must be the one the router would have decided from its
own copy. And a decision taken again after a crash must name the same message, whichever channel it picks now.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from schemas.common import Channel, Stage
from schemas.dispatch import DISPATCH_ADAPTER
from schemas.status import dispatch_ref, parse_dispatch_ref
from services.router.outputs import deliver_command, routed_from_command
from services.router.policy import Recent, RoutingConfig, decide, plan_event
from services.router.service import intent_of
from services.router.store import Routed
from tests.router.builders import event, prefs

DAY = datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
CFG = RoutingConfig(stage_map={"interview": Stage.INTERVIEW_SCHEDULING})


def _routed(kind: str, channels: tuple[Channel, ...], **kw: object) -> Routed:
    p = prefs(channels, granted=channels)
    plan = plan_event(event(kind, time_=DAY, **kw), p, DAY, CFG, Recent())  # type: ignore[arg-type]
    planned = plan.messages[0]
    return Routed(
        planned=planned,
        partition=4,
        to="+31612345678" if planned.channel is Channel.SMS else "sanne@example.org",
        preference_version=7,
        created_at=DAY,
        tried=(Channel.WHATSAPP,),
        follow_ups=1,
    )


def test_a_message_read_back_from_its_command_is_the_one_the_router_decided() -> None:
    r = _routed("ats.interview.scheduled", (Channel.SMS, Channel.EMAIL))
    wire = deliver_command(r, DAY).model_dump_json().encode()  # what the topic holds

    back = routed_from_command(DISPATCH_ADAPTER.validate_json(wire), partition=4)

    assert back.id == r.id and back.planned.channel is r.planned.channel
    assert intent_of(back) == intent_of(r)  # a fallback decides from the same intent
    assert (back.to, back.tried, back.follow_ups, back.preference_version, back.partition) == (
        r.to,
        r.tried,
        r.follow_ups,
        r.preference_version,
        r.partition,
    )
    assert back.planned.state.value == "queued" and back.planned.interview_id == r.planned.interview_id


def test_a_decision_taken_again_on_another_channel_is_the_same_message() -> None:
    r = _routed("ats.stage.changed", (Channel.SMS, Channel.EMAIL))
    now_email = prefs((Channel.EMAIL, Channel.SMS), granted=(Channel.SMS,))  # the candidate changed their order
    again = decide(intent_of(r), now_email, DAY, CFG, Recent())
    assert (r.planned.channel, again.channel) == (Channel.SMS, Channel.EMAIL)
    assert again.notification_id == r.id
    fallback = decide(
        replace(intent_of(r), attempt=2), now_email, DAY, CFG, Recent(), exclude=frozenset({again.channel})
    )
    assert fallback.notification_id != r.id


def test_a_dispatch_position_survives_its_header() -> None:
    assert parse_dispatch_ref(dispatch_ref(5, 1234)) == (5, 1234)
    for broken in (None, "", "5", "a:1", "5:", ":7", "5:-1"):
        assert parse_dispatch_ref(broken) is None
