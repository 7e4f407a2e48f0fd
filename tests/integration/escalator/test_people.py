"""The escalator publishes its people for the notifier: a PersonUpdated per person on the compacted
vigil.people.v1 whenever its configuration is imported or replaced (with the configuration's
version as the revision), a removal for a person dropped, nothing for a refused document. Real
PostgreSQL and a real broker."""

from __future__ import annotations

import asyncpg
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.events import PersonUpdated, Topic, decode
from tests.escalator_support import START, run_escalator
from tests.support import ManualClock, TopicCursor

pytestmark = pytest.mark.integration

CONFIG = """
schedules:
  - name: ops
    primary: {participants: [alice, bob], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
    backup: {participants: [carol], zone: UTC, anchor_date: 2026-01-05, handoff_time: "09:00"}
people:
  alice:
    contact: alice@example.com
    contact_methods:
      - {id: hook, kind: webhook, address: "https://hooks.example.org/alice/${ALICE_TOKEN}"}
    page_rules: [{after: 0s, method: hook}, {after: 1m, method: email}]
  bob: {contact: bob@example.com}
  carol: {contact: carol@example.com}
"""


async def people_after(cursor: TopicCursor, *, expected: int, timeout_s: float = 15) -> list[PersonUpdated]:
    """The PersonUpdated events after `cursor`, by person (the topic keeps order per person only)."""
    records = await cursor.read(expected=expected, timeout_s=timeout_s, settle_s=0.5)
    return sorted((decode(PersonUpdated, r.value) for r in records), key=lambda e: (e.person, e.revision))


def latest(events: list[PersonUpdated]) -> dict[str, PersonUpdated]:
    """What a compacted topic keeps: the last event per person."""
    return {e.person: e for e in events}


async def cleanup_policy(bootstrap: str, topic: str) -> str:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"cleanup.policy": None})])
        [(_error, _message, _type, _name, entries)] = response.resources
        return {entry[0]: entry[1] for entry in entries}["cleanup.policy"]
    finally:
        await admin.close()


async def test_people_are_published_on_import_and_on_every_put_with_the_configuration_version(
        running_escalator, kafka_broker, topic_prefix, database_url, tmp_path):
    bootstrap, topic = kafka_broker.bootstrap_servers, topic_prefix + Topic.PEOPLE
    start = TopicCursor(bootstrap, topic, {})  # the topic from its beginning: what a new notifier reads
    with run_escalator(running_escalator, tmp_path, clock=ManualClock(START), config=CONFIG) as svc:
        api = svc.client("admin")
        imported = api.get("/api/v1/config").json()["version"]

        at_import = await people_after(start, expected=3)
        assert [(e.person, e.revision, e.removed) for e in at_import] == [
            ("alice", imported, False), ("bob", imported, False), ("carol", imported, False)]
        alice = at_import[0]
        assert [(m.id, m.kind, m.address) for m in alice.contact_methods] == [
            ("email", "email", "alice@example.com"), ("hook", "webhook", "https://hooks.example.org/alice/${ALICE_TOKEN}")]
        assert [(s.after_s, s.method) for s in alice.page_rules] == [(0, "hook"), (60, "email")]
        assert await cleanup_policy(bootstrap, topic) == "compact"

        # Carol leaves, dave joins, alice's rules change.
        after_import = await TopicCursor.at_end(bootstrap, topic)
        document = api.get("/api/v1/config").json()["document"]
        del document["people"]["carol"]
        document["schedules"][0]["backup"]["participants"] = ["dave"]
        document["people"]["dave"] = {"contact_methods": [{"id": "work", "kind": "email", "address": "dave@example.org"}]}
        document["people"]["alice"]["page_rules"] = [{"after": "0s", "method": "email"}]
        replaced = api.put("/api/v1/config", json=document)
        assert replaced.status_code == 200, replaced.text
        version = replaced.json()["version"]
        assert version == imported + 1

        on_put = await people_after(after_import, expected=4)
        assert [(e.person, e.revision, e.removed) for e in on_put] == [
            ("alice", version, False), ("bob", version, False), ("carol", version, True), ("dave", version, False)]
        assert [(s.after_s, s.method) for s in on_put[0].page_rules] == [(0, "email")]

        # A bad rule is refused naming the person and the rule; nothing is stored or published.
        after_put = await TopicCursor.at_end(bootstrap, topic)
        document["people"]["bob"]["page_rules"] = [{"after": "2m", "method": "sms"}]
        bad = api.put("/api/v1/config", json=document)
        assert bad.status_code == 422
        assert "people.bob" in bad.json()["message"] and "page_rules step 1 (after 2m) uses method 'sms'" in bad.json()["message"]
        assert api.get("/api/v1/config").json()["version"] == version
        assert await people_after(after_put, expected=1, timeout_s=2) == []

    everyone = latest(await people_after(start, expected=7))
    assert {name: (e.revision, e.removed) for name, e in everyone.items()} == {
        "alice": (version, False), "bob": (version, False), "dave": (version, False), "carol": (version, True)}

    # The latest version as an escalator that did not publish people left it: published once at start.
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("UPDATE escalator.config_version SET people_published = false")
        await conn.execute("DELETE FROM escalator.outbox WHERE topic = $1", Topic.PEOPLE)
    finally:
        await conn.close()
    before_restart = await TopicCursor.at_end(bootstrap, topic)
    with run_escalator(running_escalator, tmp_path, clock=ManualClock(START), config=CONFIG) as svc:
        assert svc.client("admin").get("/api/v1/config").json()["version"] == version  # the file did not change
        republished = await people_after(before_restart, expected=3)
    assert [(e.person, e.revision, e.removed) for e in republished] == [
        ("alice", version, False), ("bob", version, False), ("dave", version, False)]
    after_restart = await TopicCursor.at_end(bootstrap, topic)
    with run_escalator(running_escalator, tmp_path, clock=ManualClock(START), config=CONFIG):
        assert await people_after(after_restart, expected=1, timeout_s=2) == []  # published once, not at every start
