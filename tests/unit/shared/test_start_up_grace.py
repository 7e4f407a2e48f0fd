"""aiokafka's retries of start-up races (a topic another service has not created yet, a partition
without its leader yet, a group coordinator still loading) are kept out of a starting process's log,
and come through at their own level once the start-up grace period is over."""

from __future__ import annotations

import logging
import time

import pytest

from shared.observability import KafkaStartUpGrace


def record(name: str, level: int, message: str, *args) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, args, None)


STARTING = [
    record("aiokafka.cluster", logging.ERROR, "Topic %s not found in cluster metadata", "vigil.incidents.v1"),
    record("aiokafka.consumer.fetcher", logging.ERROR, "Failed fetch offsets from %s: %s", 1,
           "[Error 6] NotLeaderForPartitionError: TopicPartition(topic='vigil.identity.v1', partition=3)"),
    record("aiokafka.consumer.group_coordinator", logging.ERROR, "Group Coordinator Request failed: %s",
           "[Error 15] GroupCoordinatorNotAvailableError"),
    record("aiokafka.consumer.group_coordinator", logging.WARNING, "Marking the coordinator dead (node %s)for group %s.",
           1, "vigil-slo"),
]


@pytest.mark.parametrize("line", STARTING, ids=lambda r: r.getMessage()[:40])
def test_a_start_up_race_is_dropped_while_the_process_starts(line):
    assert KafkaStartUpGrace(until=time.monotonic() + 60, debug=False).filter(line) is False


@pytest.mark.parametrize("line", STARTING, ids=lambda r: r.getMessage()[:40])
def test_at_debug_level_it_is_kept_as_a_debug_line(line):
    assert KafkaStartUpGrace(until=time.monotonic() + 60, debug=True).filter(line) is True
    assert line.levelname == "DEBUG"


def test_after_the_grace_period_it_comes_through_at_its_own_level():
    line = record("aiokafka.cluster", logging.ERROR, "Topic %s not found in cluster metadata", "vigil.alerts.v1")
    assert KafkaStartUpGrace(until=time.monotonic() - 1, debug=False).filter(line) is True
    assert line.levelno == logging.ERROR


@pytest.mark.parametrize("line", [
    record("aiokafka", logging.ERROR, 'Unable connect to "%s:%s": %s', "kafka", 9092, "Connection refused"),
    record("aiokafka.consumer.group_coordinator", logging.ERROR, "Heartbeat failed: %r", "RequestTimedOutError"),
    record("vigil.kafka", logging.ERROR, "Topic %s not found in cluster metadata", "x"),
], ids=["unreachable broker", "other aiokafka error", "not aiokafka"])
def test_anything_else_comes_through_from_the_start(line):
    assert KafkaStartUpGrace(until=time.monotonic() + 60, debug=False).filter(line) is True
    assert line.levelno == logging.ERROR
