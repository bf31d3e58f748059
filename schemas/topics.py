"""Every Kafka topic: key, partitions, cleanup, retention, writers and readers. Topic creation reads this.

All candidate-keyed topics share one partition count, so partition N of every topic holds the same
candidates (co-partitioning): an instance assigned partition N of its inputs can rebuild exactly
the state for those candidates from partition N of `preferences.changed`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from schemas.common import Channel

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    """One topic of the contract."""

    name: str
    description: str
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    key: str = "candidate id"
    cleanup_policy: str = "delete"
    retention_ms: int = 7 * DAY_MS
    co_partitioned: bool = True
    config: dict[str, str] = field(default_factory=dict)

    def kafka_config(self) -> dict[str, str]:
        """Topic-level configuration for CreateTopics."""
        cfg = {"cleanup.policy": self.cleanup_policy, **self.config}
        if self.cleanup_policy == "delete":
            cfg["retention.ms"] = str(self.retention_ms)
        return cfg


ATS_EVENTS = "ats.events"
ATS_ACCEPTED = "ats.accepted"
NOTIFICATIONS_STATUS = "notifications.status"
PREFERENCES_CHANGED = "preferences.changed"
CANDIDATE_INBOUND = "candidate.inbound"
CANDIDATE_EVENTS = "candidate.events"
DLQ_SUFFIX = ".dlq"

# Record headers of the contract.
# On preferences.changed (snapshots and tombstones) and ats.accepted: the preference version the record
# stands for. A tombstone carries the version of the erasure, so a stale snapshot never outlives it, and an
# accepted event the version its reader must hold before deciding (the snapshot that event produced).
PREFERENCE_VERSION_HEADER = "preference.version"
# On ats.accepted: "1" when the candidate's data was erased; the value is then the event without personal data.
SUPPRESSED_HEADER = "candidate.suppressed"


def dispatch_topic(channel: Channel) -> str:
    """The router → notifier command topic of one channel (a slow channel never blocks another)."""
    return f"dispatch.{channel.value}"


def dlq_topic(topic: str) -> str:
    """Where records of `topic` that cannot be processed go, with the reason in headers."""
    return topic + DLQ_SUFFIX


_MAIN: tuple[TopicSpec, ...] = (
    TopicSpec(
        ATS_EVENTS,
        "Input from the ATS: application, stage, interview, offer, rejection, hire and free-message events "
        "(produced by the ATS itself, or by the connector service from its webhooks and CloudEvents over HTTP).",
        writers=("ats", "connectors"),
        readers=("preference",),
        co_partitioned=False,  # the ATS partitions as its client likes; only the preference service reads it
        retention_ms=7 * DAY_MS,
        config={"max.message.bytes": "2097152"},
    ),
    TopicSpec(
        ATS_ACCEPTED,
        "Internal: every ATS event the preference service accepted (validated, profile stored and published), "
        "re-keyed by candidate with the project's partitioner (schemas/partitioning.py), so it shares its "
        "partition with the candidate's snapshot. Header preference.version: the snapshot the reader must hold first.",
        writers=("preference",),
        readers=("router",),
        retention_ms=7 * DAY_MS,
        config={"max.message.bytes": "2097152"},
    ),
    TopicSpec(
        NOTIFICATIONS_STATUS,
        "Output: every state change of every notification (router: held/queued/cancelled/needs_recruiter; "
        "notifier: sent/delivered/read/replied/failed/bounced). The connector service writes them back to the ATS "
        "as notes.",
        writers=("router", "notifier"),
        readers=("ats", "router", "preference", "notifier", "connectors"),
        retention_ms=30 * DAY_MS,
    ),
    TopicSpec(
        PREFERENCES_CHANGED,
        "Full preference snapshot per candidate with its version; tombstone on erasure. The connector service "
        "notes the candidate's own changes in their ATS.",
        writers=("preference",),
        readers=("router", "notifier", "connectors"),
        cleanup_policy="compact",
        config={"min.cleanable.dirty.ratio": "0.1", "delete.retention.ms": str(DAY_MS), "segment.ms": str(DAY_MS)},
    ),
    TopicSpec(
        CANDIDATE_INBOUND,
        "Replies from candidates (SMS, WhatsApp, e-mail) for intent parsing.",
        writers=("notifier",),
        readers=("preference",),
        retention_ms=7 * DAY_MS,
    ),
    TopicSpec(
        CANDIDATE_EVENTS,
        "Output: interview slots chosen by reply, replies that need a recruiter, contact points found unusable.",
        writers=("preference",),
        readers=("ats", "notifier"),
        retention_ms=30 * DAY_MS,
    ),
    *(
        TopicSpec(
            dispatch_topic(ch),
            f"Command: deliver one message on {ch.value}. Also the router's record of what it dispatched: a "
            "failure or bounce the notifier reports names its command's position, and the router decides the "
            "fallback from it (a read by position, not a reader in a group), so it is kept as long as a mail "
            "server may still bounce (5 days, and margin).",
            writers=("router",),
            readers=("notifier",),
            retention_ms=7 * DAY_MS,
        )
        for ch in Channel
    ),
)

# Every input gets a dead-letter topic; DLQs keep the original key and value for a redrive.
_DLQS: tuple[TopicSpec, ...] = tuple(
    TopicSpec(
        dlq_topic(spec.name),
        f"Dead letters of {spec.name}: the original record, the error in headers.",
        writers=tuple(r for r in spec.readers if r != "ats"),
        readers=("ops",),
        retention_ms=14 * DAY_MS,
        co_partitioned=False,  # the original key, hashed by the writer's client: for redrives, not for state
        config={"max.message.bytes": spec.config.get("max.message.bytes", "1048588")},
    )
    for spec in _MAIN
)

TOPICS: tuple[TopicSpec, ...] = _MAIN + _DLQS
TOPICS_BY_NAME: dict[str, TopicSpec] = {t.name: t for t in TOPICS}
