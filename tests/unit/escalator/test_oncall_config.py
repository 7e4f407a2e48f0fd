"""The escalator's configuration document: the shipped example, validation messages, routing, and
the policy snapshot's round trip."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.escalator.config import EXAMPLE_CONFIG
from services.escalator.oncall_config import ConfigError, load_yaml, parse
from services.escalator.policy import PolicyConfig

ROTATION = {"participants": ["alice", "bob"], "zone": "Europe/Berlin", "anchor_date": "2026-01-05", "handoff_time": "09:00"}


def doc(**extra) -> dict:
    return {"schedules": [{"name": "platform", "primary": ROTATION, "backup": {**ROTATION, "participants": ["carol"]}}], **extra}


def test_the_shipped_example_is_valid_and_encodes_the_operations_process_defaults():
    config = load_yaml(EXAMPLE_CONFIG.read_text())
    assert config.route({}) == "platform"
    assert config.policy.critical.steps[1].after == timedelta(minutes=5)
    assert config.policy.critical.ack_timeout == timedelta(minutes=30)
    assert config.policy.high.steps[0].action == "notify"
    assert config.policy.business_hours.zone == "Europe/Berlin"
    assert config.contact("alice") == "alice@example.com"


def test_routes_pick_the_first_matching_schedule_else_the_default():
    second = {"name": "db", "primary": ROTATION, "backup": ROTATION}
    config = parse({**doc(), "schedules": [*doc()["schedules"], second],
                    "routes": [{"match": {"team": "db", "env": "prod"}, "schedule": "db"}]})
    assert config.route({"team": "db", "env": "prod", "x": "y"}) == "db"
    assert config.route({"team": "db", "env": "dev"}) == "platform"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (doc(default_schedule="nope"), "unknown schedule 'nope'"),
        (doc(routes=[{"match": {"team": "x"}, "schedule": "nope"}]), "unknown schedule 'nope'"),
        ({"schedules": []}, "schedules"),
        ({**doc(), "schedules": [doc()["schedules"][0]] * 2}, "schedule names must be unique"),
        (doc(policy={"critical": {"steps": [{"action": "page", "after": "5m"}, {"action": "page"}]}}), "in the order they happen"),
        ({"schedules": [{"name": "p", "primary": {**ROTATION, "zone": "Mars/Olympus"}, "backup": ROTATION}]}, "Mars/Olympus"),
        ({"schedules": [{"name": "p", "primary": {**ROTATION, "first": "zed"}, "backup": ROTATION}]}, "not a participant"),
        (doc(surprise=1), "surprise"),
    ],
)
def test_an_invalid_document_is_refused_with_a_message_naming_the_problem(document, message):
    with pytest.raises(ConfigError) as err:
        parse(document)
    assert message in str(err.value)


def test_yaml_that_is_not_a_mapping_or_not_yaml_is_refused():
    with pytest.raises(ConfigError, match="mapping"):
        load_yaml("- a\n- b\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_yaml("schedules: [\n")


def test_the_policy_snapshot_round_trips_through_json():
    policy = load_yaml(EXAMPLE_CONFIG.read_text()).policy
    assert PolicyConfig.model_validate(policy.model_dump(mode="json")) == policy


def test_the_fingerprint_follows_content_not_formatting():
    a = load_yaml("schedules:\n  - {name: p, primary: {participants: [a], zone: UTC, anchor_date: 2026-01-05}, backup: {participants: [b], zone: UTC, anchor_date: 2026-01-05}}\n")
    b = parse({"schedules": [{"name": "p", "backup": {"zone": "UTC", "participants": ["b"], "anchor_date": "2026-01-05"},
                              "primary": {"participants": ["a"], "anchor_date": "2026-01-05", "zone": "UTC"}}]})
    assert a.fingerprint() == b.fingerprint()
    assert a.fingerprint() != parse(doc()).fingerprint()
