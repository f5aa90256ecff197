"""Connector message rules (no broker, no database): the mutation's validation per message, the keys, and
Kafka's commit offsets (the Kafka source is otherwise untested: no broker runs here, docs/connectors.md)."""

from __future__ import annotations

import orjson
from aiokafka import TopicPartition

from atlas4d.connectors.kafka_source import KafkaSource, commit_offsets
from atlas4d.connectors.messages import validate_messages
from atlas4d.connectors.worker import Message

GOOD = {"time": "2026-12-01T00:00:00Z", "lon": 27.5, "lat": 42.5}
ENTITY = "0b7c6a57-31f4-4a4a-9d3a-6f0f6a1d7c11"


def test_a_message_is_stored_whole_or_not_at_all_and_errors_are_worded_as_the_mutations() -> None:
    bodies = [
        orjson.dumps(GOOD),
        orjson.dumps([GOOD, {**GOOD, "lat": 95}]),
        orjson.dumps({**GOOD, "externalId": "a-1"}),
        b"\xff not json",
    ]
    batch = validate_messages(bodies)
    assert len(batch.rows) == 2, "the good item of message 1 is not stored without its bad sibling"
    assert batch.errors[1].message == "observations[1].lat: must be within -90..90, got 95"
    assert batch.errors[1].index == 1 and batch.errors[1].field == "lat"
    assert batch.errors[3].message.startswith("is not valid JSON")
    assert set(batch.errors) == {1, 3}


def test_keys_prefer_external_id_then_entity_then_a_digest_of_the_object() -> None:
    batch = validate_messages(
        [
            orjson.dumps({**GOOD, "externalId": "a-1", "entityId": ENTITY}),
            orjson.dumps({**GOOD, "entityId": ENTITY.upper()}),
            orjson.dumps({"lat": 42.5, "lon": 27.5, "time": "2026-12-01T02:00:00+02:00"}),
            orjson.dumps(GOOD),
        ]
    )
    ids = [k[0] for k in batch.keys]
    assert ids[0] == "a-1" and ids[1] == f"entity:{ENTITY}"
    assert ids[2] == ids[3] and ids[2].startswith("sha1:"), "same object, other key order and zone: same key"
    assert batch.keys[2][1] == batch.keys[3][1]


def test_kafka_commits_each_partition_up_to_its_first_unfinished_message() -> None:
    a, b = TopicPartition("obs", 0), TopicPartition("obs", 1)
    batch = [Message(b"", "obs", 0.0, (tp, o)) for tp, o in [(a, 10), (a, 11), (a, 12), (b, 5), (b, 6)]]
    done = [batch[0], batch[2], batch[3], batch[4]]  # a/11's dead letter failed
    assert commit_offsets(batch, done) == {a: 11, b: 7}
    options = KafkaSource("k:9092", ["obs"], group="g", dead_letter_topic="dead").consumer_options()
    assert options["enable_auto_commit"] is False
