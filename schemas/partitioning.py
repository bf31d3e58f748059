"""The partitioning rule of every internal topic: ours, not the producer's.

An ATS may put a record on any partition of `ats.events` (librdkafka's default partitioner hashes with
CRC32, the Java client with murmur2, some producers pick a partition at random or send no key). So no
service looks a candidate up by the partition an input record arrived on. The preference service re-keys
every accepted ATS event onto `ats.accepted`, and every internal, candidate-keyed topic is written with an
explicit partition from `partition_for`: murmur2 of the UTF-8 candidate id, as the Java client's default
partitioner computes it, so a Kafka Streams or Connect job keyed the same way lands on the same partition.
One candidate's snapshot, events, commands and states therefore share one partition number on every
co-partitioned topic (all have the same partition count, `KAFKA_PARTITIONS`).
"""

from __future__ import annotations

from functools import lru_cache

from aiokafka.partitioner import murmur2


@lru_cache(maxsize=262_144)  # the same candidates come back; the hash is pure Python
def partition_for(candidate_id: str, partitions: int) -> int:
    """The partition of a candidate on every co-partitioned topic with `partitions` partitions."""
    if partitions < 1:
        raise ValueError("a topic has at least one partition")
    hashed: int = murmur2(candidate_id.encode())
    return (hashed & 0x7FFFFFFF) % partitions
