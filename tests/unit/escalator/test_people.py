"""People in the escalator's configuration: contact methods and personal notification rules as people
write them, the validation messages that name the person and the rule, and the PersonUpdated events
published for the notifier."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from services.escalator.config import EXAMPLE_CONFIG
from services.escalator.oncall_config import ConfigError, load_yaml, parse, people_updates
from shared.events import ContactMethod, NotificationStep

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
ROTATION = {"participants": ["alice", "bob"], "zone": "UTC", "anchor_date": "2026-01-05"}
SCHEDULES = [{"name": "platform", "primary": ROTATION, "backup": ROTATION}]

ALICE = """
contact: alice@example.com
contact_methods:
  - {id: slack, kind: slack, address: "https://hooks.slack.com/services/${SLACK_ALICE}"}
  - {id: phone, kind: apprise, address: "twilio://${TWILIO_SID}:${TWILIO_TOKEN}@+15550001/+15550002"}
page_rules:   [{after: 0s, method: slack}, {after: 1m, method: email}, {after: 3m, method: phone}]
notify_rules: [{after: 0s, method: email}]
"""


def with_people(**people) -> dict:
    return {"schedules": SCHEDULES, "people": people}


def refusal(**people) -> str:
    with pytest.raises(ConfigError) as err:
        parse(with_people(**people))
    return str(err.value)


def test_rules_written_for_humans_become_notification_steps_in_seconds():
    alice = parse(with_people(alice=yaml.safe_load(ALICE))).people["alice"]
    assert [m.id for m in alice.methods] == ["email", "slack", "phone"]
    assert alice.methods[0] == ContactMethod(id="email", kind="email", address="alice@example.com")
    assert [r.step() for r in alice.page_rules] == [
        NotificationStep(after_s=0, method="slack"), NotificationStep(after_s=60, method="email"),
        NotificationStep(after_s=180, method="phone"),
    ]


def test_the_stored_document_parses_back_to_the_same_configuration():
    config = parse(with_people(alice=yaml.safe_load(ALICE)))
    assert parse(config.model_dump(mode="json")) == config


def test_contact_shorthand_stays_what_pages_carry_and_a_method_only_person_carries_the_first_email():
    config = parse(with_people(
        alice={"contact": "alice@example.com"},
        bob={"contact": "+49 30 1234"},  # free text as before: carried on pages, not a contact method
        carol={"contact_methods": [{"id": "hook", "kind": "webhook", "address": "https://example.org/h"},
                                   {"id": "work", "kind": "email", "address": "carol@example.org"}]},
        dave={},
    ))
    assert [config.contact(p) for p in ("alice", "bob", "carol", "dave", "nobody")] == [
        "alice@example.com", "+49 30 1234", "carol@example.org", None, None]
    assert config.people["bob"].methods == ()


def test_the_shipped_example_gives_every_person_an_email_method():
    config = load_yaml(EXAMPLE_CONFIG.read_text())
    assert {name: [(m.id, m.kind) for m in p.methods] for name, p in config.people.items()} == {
        name: [("email", "email")] for name in ("alice", "bob", "carol", "dave")}


@pytest.mark.parametrize(
    ("person", "message"),
    [
        ({"contact_methods": [{"id": "a", "kind": "email", "address": "a@x.org"}, {"id": "a", "kind": "email", "address": "b@x.org"}]},
         "contact method ids must be unique, repeated: a"),
        ({"contact": "a@x.org", "contact_methods": [{"id": "email", "kind": "email", "address": "b@x.org"}]},
         "`contact` is already the e-mail method 'email'"),
        ({"contact_methods": [{"id": "work", "kind": "email", "address": "not an address"}]},
         "contact method 'work' (email): 'not an address' is not an e-mail address"),
        ({"contact_methods": [{"id": "hook", "kind": "webhook", "address": "ftp://example.org/x"}]},
         "contact method 'hook' (webhook): 'ftp://example.org/x' is not an http(s) URL"),
        ({"contact_methods": [{"id": "chat", "kind": "slack", "address": "hooks.slack.com/services/x"}]},
         "contact method 'chat' (slack): 'hooks.slack.com/services/x' is not an http(s) URL"),
        ({"contact_methods": [{"id": "hook", "kind": "webhook", "address": "https:///no-host"}]}, "is not an http(s) URL"),
        ({"contact_methods": [{"id": "sms", "kind": "apprise", "address": "+15550001"}]},
         "is not an Apprise URL"),
        ({"contact": "a@x.org", "page_rules": [{"after": "0s", "method": "email"}, {"after": "2m", "method": "phone"}]},
         "page_rules step 2 (after 2m) uses method 'phone'; the contact methods are email"),
        ({"notify_rules": [{"method": "email"}]}, "notify_rules step 1 (after 0s) uses method 'email'; there are no contact methods"),
        ({"contact": "a@x.org", "page_rules": [{"after": "5m", "method": "email"}, {"after": "1m", "method": "email"}]},
         "page_rules must be in the order they happen: step 2 (after 1m) comes before step 1 (after 5m)"),
        ({"contact": "a@x.org", "page_rules": [{"after": "8d", "method": "email"}]}, "`after` must be between 0s and 7d"),
        ({"contact_methods": [{"id": "x", "kind": "pigeon", "address": "roof"}]}, "people.alice.contact_methods.0.kind"),
        ({"contact": "a@x.org", "page_rules": [{"after": "soon", "method": "email"}]}, "people.alice.page_rules.0.after"),
    ],
)
def test_a_bad_method_or_rule_is_refused_naming_the_person_and_the_rule(person, message):
    text = refusal(alice=person, bob={"contact": "bob@x.org"})
    assert message in text
    assert "people.alice" in text and "people.bob" not in text


def test_every_problem_of_every_person_is_reported_at_once():
    text = refusal(alice={"page_rules": [{"method": "slack"}]}, bob={"notify_rules": [{"method": "sms"}]})
    assert "people.alice: " in text and "'slack'" in text
    assert "people.bob: " in text and "'sms'" in text


def test_a_url_with_placeholders_for_secrets_is_an_http_url():
    person = {"contact_methods": [{"id": "hook", "kind": "webhook", "address": "https://${HOOK_HOST}/in/${HOOK_TOKEN}"}]}
    assert parse(with_people(alice=person)).people["alice"].methods[0].address == "https://${HOOK_HOST}/in/${HOOK_TOKEN}"


def test_each_person_of_the_new_document_is_published_and_each_dropped_one_is_removed():
    config = parse(with_people(alice=yaml.safe_load(ALICE), bob={"contact": "bob@example.com"}))
    events = people_updates(config, previous=["bob", "carol", "alice"], revision=7, now=NOW)
    assert [(e.person, e.revision, e.removed) for e in events] == [("alice", 7, False), ("bob", 7, False), ("carol", 7, True)]
    alice, bob, carol = events
    assert [m.id for m in alice.contact_methods] == ["email", "slack", "phone"]
    assert [(s.after_s, s.method) for s in alice.page_rules] == [(0, "slack"), (60, "email"), (180, "phone")]
    assert [(s.after_s, s.method) for s in alice.notify_rules] == [(0, "email")]
    assert bob.page_rules == () and bob.notify_rules == ()  # the notifier's defaults
    assert carol.contact_methods == () and carol.kafka_key() == b"carol"
    assert len({e.event_id for e in events}) == 3


def test_event_ids_are_the_same_for_the_same_revision_and_differ_between_revisions():
    config = parse(with_people(alice={"contact": "a@x.org"}))
    first, again, later = (people_updates(config, previous=[], revision=r, now=NOW)[0] for r in (3, 3, 4))
    assert first.event_id == again.event_id != later.event_id
