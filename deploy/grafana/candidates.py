"""Dashboard: candidate experience (preference changes, revocations, channel mix, responses, silence)."""

from __future__ import annotations

from deploy.grafana.model import (
    SENT,
    SILENCE,
    Board,
    Panel,
    Query,
    Row,
    rate,
    ratio,
    total,
)

CANDIDATES = Board(
    "candidate-experience",
    "candidate-comms-candidates",
    "Candidate comms / Candidate experience",
    "What candidates choose and how they respond: preference changes, revocations, channel mix, replies, silence.",
    (
        Row(
            "Preferences",
            (
                Panel(
                    "Preference changes by source",
                    "New preference versions: self-service page, replies, recruiters, ATS imports, learning, bounces.",
                    (Query(rate("preference_changes_total", "source"), "{{source}}"),),
                    "ops",
                ),
                Panel(
                    "Consent revocations by channel",
                    "Channels a candidate closed (page, one-click unsubscribe, STOP reply, API), in the range.",
                    (
                        Query(
                            total("preference_consent_revocations_total", "channel, purpose"), "{{channel}} {{purpose}}"
                        ),
                    ),
                    kind="bargauge",
                ),
                Panel(
                    "Reply intents",
                    "What candidates' replies said (stop, start, channel statements, slot choices, not understood).",
                    (Query(rate("preference_reply_intents_total", "intent"), "{{intent}}"),),
                    "ops",
                ),
                Panel(
                    "Re-decisions after a preference change",
                    "Held messages decided again because the candidate changed something.",
                    (Query(rate("router_redecisions_total", "outcome"), "{{outcome}}"),),
                    "ops",
                ),
            ),
        ),
        Row(
            "Routing",
            (
                Panel(
                    "Channel mix",
                    "Channels the router chose in the range (none = handed to a recruiter).",
                    (Query(total("router_decisions_total", "channel"), "{{channel}}"),),
                    kind="bargauge",
                ),
                Panel(
                    "Why this channel",
                    "Kind of reason behind each decision: stage choice, the candidate's order, default, learned"
                    " affinity, next available, fallback, urgent copy.",
                    (Query(total("router_decisions_total", "reason"), "{{reason}}"),),
                    kind="bargauge",
                ),
                Panel(
                    "Quiet hours, pauses and caps: holds and releases",
                    "Messages held for later, and held messages released, by kind of hold.",
                    (
                        Query(rate("router_holds_total", "kind"), "held {{kind}}"),
                        Query(rate("router_releases_total", "kind"), "released {{kind}}"),
                    ),
                    "ops",
                ),
                Panel(
                    "Held and scheduled messages now",
                    "Messages waiting for quiet hours to end, a pause, a cap, or their scheduled time.",
                    (Query("sum by (kind) (router_pending_messages)", "{{kind}}"),),
                ),
            ),
        ),
        Row(
            "Responses and silence",
            (
                Panel(
                    "Response rate by channel",
                    "Replies per message sent on that channel, in the range.",
                    (
                        Query(
                            ratio(
                                total("notifier_inbound_replies_total", "channel"),
                                total("notifier_deliveries_total", "channel", SENT),
                            ),
                            "{{channel}}",
                        ),
                    ),
                    "percentunit",
                ),
                Panel(
                    "Silence rate",
                    "Follow-ups after no reply, per message sent, in the range.",
                    (
                        Query(
                            ratio(
                                total("router_fallbacks_total", "", SILENCE),
                                total("notifier_deliveries_total", "", SENT),
                            ),
                            "silence",
                        ),
                    ),
                    "percentunit",
                    kind="stat",
                ),
                Panel(
                    "Silence follow-ups and hand-overs to recruiters",
                    "Follow-ups on the next channel after no reply; messages handed to a recruiter (no channel"
                    " left, or still silent after the follow-up).",
                    (
                        Query(rate("router_fallbacks_total", "", SILENCE), "follow-ups"),
                        Query(rate("router_needs_recruiter_total", "cause"), "needs recruiter: {{cause}}"),
                    ),
                    "ops",
                ),
                Panel(
                    "Replies by channel",
                    "Candidate replies received per second.",
                    (Query(rate("notifier_inbound_replies_total", "channel"), "{{channel}}"),),
                    "ops",
                ),
            ),
        ),
    ),
)
