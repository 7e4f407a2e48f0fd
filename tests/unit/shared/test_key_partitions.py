"""The producer's own partition choice must be exactly aiokafka's default (murmur2, as the Java
client): a fingerprint's events must land in the partition every other producer would pick."""

from aiokafka.partitioner import DefaultPartitioner

from shared.kafka import KeyPartitions, Message


def _messages(keys, topic="t"):
    return [Message(topic, key, b"v", []) for key in keys]


def test_same_partition_as_aiokafkas_default_partitioner_for_many_keys_and_partition_counts():
    default = DefaultPartitioner()
    keys = [f"{i:016x}".encode() for i in range(0, 5000, 7)] + [b"", b"a", "é".encode()]
    for count in (1, 3, 6, 12, 50):
        ids = list(range(count))
        chosen = KeyPartitions().for_messages(lambda _t, ids=ids: set(ids), _messages(keys))
        assert chosen == [default(key, ids, ids) for key in keys]


def test_partition_ids_are_taken_in_id_order_per_topic():
    keys = [f"k{i}".encode() for i in range(200)]
    default = DefaultPartitioner()
    lookup = {"a": {5, 1, 3}, "b": {0, 1}}
    messages = _messages(keys, "a") + _messages(keys, "b")
    chosen = KeyPartitions().for_messages(lookup.get, messages)
    assert chosen == [default(k, [1, 3, 5], []) for k in keys] + [default(k, [0, 1], []) for k in keys]
    assert set(chosen[:200]) == {1, 3, 5}


def test_unknown_topic_or_missing_key_leaves_the_choice_to_aiokafka():
    chosen = KeyPartitions().for_messages(lambda _t: None, _messages([b"x"]))
    assert chosen == [None]
    keyless = [Message("t", None, b"v", [])]
    assert KeyPartitions().for_messages(lambda _t: {0, 1}, keyless) == [None]


def test_the_remembered_hashes_stay_bounded_and_right():
    partitions = KeyPartitions(max_keys=10)
    default = DefaultPartitioner()
    keys = [f"key-{i}".encode() for i in range(35)]
    for _ in range(2):
        chosen = partitions.for_messages(lambda _t: set(range(6)), _messages(keys))
        assert chosen == [default(k, list(range(6)), []) for k in keys]
    assert len(partitions._hashes) <= 10
