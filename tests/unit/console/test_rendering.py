"""What the console's pages show: times in words, safe links, where a form may send the browser."""

from datetime import UTC, datetime, timedelta

import pytest

from services.console import rendering
from services.console.markdown import VigilLinks

NOW = datetime(2026, 3, 1, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(("seconds", "text"), [
    (5, "just now"), (44, "just now"), (50, "50 s ago"), (60, "1 min ago"), (12 * 60 + 29, "12 min ago"),
    (3 * 3600, "3 h ago"), (3 * 3600 + 5 * 60, "3 h 5 min ago"), (2 * 86400 + 4 * 3600, "2 d 4 h ago"),
    (3 * 86400, "3 d ago"),
])
def test_ago_in_the_largest_units(seconds, text):
    assert rendering.ago(NOW - timedelta(seconds=seconds), NOW) == text


def test_ago_reads_the_services_json_times():
    assert rendering.ago("2026-03-01T02:55:00Z", NOW) == "5 min ago"
    assert rendering.ago("2026-03-01T03:55:00+01:00", NOW) == "5 min ago"
    assert rendering.ago(None, NOW) == "" and rendering.ago("not a time", NOW) == ""


def test_time_left_before_and_after_the_response_target():
    assert rendering.time_left(NOW + timedelta(minutes=8), NOW) == "8 min left"
    assert rendering.time_left("2026-03-01T02:57:00+00:00", NOW) == "overdue by 3 min"


def test_times_are_shown_in_utc():
    assert rendering.utc("2026-03-01T04:30:00+01:00") == "2026-03-01 03:30 UTC"


@pytest.mark.parametrize(("url", "link"), [
    ("https://runbooks.example/disk", "https://runbooks.example/disk"),
    ("http://grafana:3000/d/x", "http://grafana:3000/d/x"),
    ("javascript:alert(1)", None), ("data:text/html,x", None), ("//evil.example", None), ("runbook.md", None), (None, None),
])
def test_only_http_urls_become_links(url, link):
    assert rendering.safe_url(url) == link


def test_link_annotations_are_the_ones_that_are_links():
    annotations = {"summary": "disk full", "runbook_url": "https://rb/disk", "dashboard": "javascript:x"}
    assert rendering.link_annotations(annotations) == [("runbook_url", "https://rb/disk")]


@pytest.mark.parametrize(("target", "path"), [
    ("/incidents?status=all", "/incidents?status=all"), ("/incidents/INC-3", "/incidents/INC-3"),
    ("https://evil.example/", "/incidents"), ("//evil.example/x", "/incidents"), ("/\\evil.example", "/incidents"),
    ("incidents", "/incidents"), ("/x\r\nSet-Cookie: a=b", "/incidents"), (None, "/incidents"),
])
def test_a_form_sends_the_browser_back_only_to_this_site(target, path):
    assert rendering.local_path(target) == path


@pytest.mark.parametrize(("ref", "found"), [("INC-42", "42"), ("inc-7", "7"), ("42", "42"), ("INC-0", None),
                                            ("INC-x", None), ("../admin", None), ("1" * 19, None)])
def test_incident_references(ref, found):
    assert rendering.incident_ref(ref) == found


def test_list_query_keeps_the_filters():
    assert rendering.list_query(status="open", severities=[1, 2], text="disk full") == "status=open&sev=1&sev=2&q=disk+full"
    assert rendering.list_query(status="all", severities=[], text="") == "status=all"


def test_words_for_severities_statuses_and_timeline_kinds():
    assert rendering.severity_name(1) == "critical" and rendering.status_label("mitigating") == "Mitigating"
    assert rendering.timeline_kind("page") == "Paged" and rendering.timeline_kind("something_new") == "Something new"
    assert rendering.is_open("investigating") and not rendering.is_open("resolved")


def test_list_query_keeps_the_label_filters():
    query = rendering.list_query(status="all", severities=[], text="", labels=[("service", "checkout"), ("team", "pay")])
    assert query == "status=all&label=service%3Dcheckout&label=team%3Dpay"


@pytest.mark.parametrize(("raw", "pairs", "problems"), [
    (["service=checkout team=payments"], [("service", "checkout"), ("team", "payments")], []),
    (["checkout"], [("service", "checkout")], []),
    (["service=checkout", "team=payments,env=prod"], [("service", "checkout"), ("team", "payments"), ("env", "prod")], []),
    (["query=a=b"], [("query", "a=b")], []),
    (["service=checkout service=checkout"], [("service", "checkout")], []),
    (["=checkout team="], [], ["=checkout", "team="]),
    (["", "  "], [], []),
])
def test_label_filters_as_people_type_them(raw, pairs, problems):
    assert rendering.label_filters(raw) == (pairs, problems)


def test_at_most_twenty_label_filters_are_sent():
    pairs, problems = rendering.label_filters([" ".join(f"n{i}=v" for i in range(25))])
    assert len(pairs) == 20 and problems == ["at most 20 labels at once"]
    assert rendering.label_text(pairs[:2]) == "n0=v n1=v"


LINKS = VigilLinks.of(base_urls=["https://vigil.example", "http://incidents:8081"], runbooks=[
    {"id": 3, "name": "disk-full", "link": "https://wiki.example/disk"}, {"id": 4, "name": "db-failover", "link": None}])


def test_a_runbook_annotation_that_names_a_vigil_runbook_opens_it_in_the_console():
    links = rendering.alert_links({"runbook": "Disk-Full", "runbook_url": "https://wiki.example/disk"}, None, LINKS)
    assert links == [rendering.Link("Runbook disk-full", "/operations/runbooks/3", internal=True)] * 2
    for path in ("/operations/runbooks/4", "http://incidents:8081/api/v1/runbooks/4"):
        assert rendering.alert_links({"runbook_url": path}, None, LINKS) == [
            rendering.Link("Runbook db-failover", "/operations/runbooks/4", internal=True)]


def test_a_link_to_a_vigil_incident_opens_in_the_console():
    assert rendering.alert_links({"related": "https://vigil.example/incidents/INC-9"}, None, LINKS) == [
        rendering.Link("Related", "/incidents/INC-9", internal=True)]


def test_other_links_stay_external_and_unsafe_ones_are_dropped():
    links = rendering.alert_links({"runbook_url": "https://elsewhere.example/rb", "grafana_dashboard": "http://g/d/1",
                                   "summary": "disk full", "runbook": "no-such-runbook", "x_url": "javascript:alert(1)",
                                   "runbook_link": "javascript:alert(1)"},
                                  "http://prom:9090/graph?g0.expr=up", LINKS)
    assert links == [rendering.Link("Grafana dashboard", "http://g/d/1"),
                     rendering.Link("Runbook no-such-runbook (not among Vigil's runbooks)", ""),
                     rendering.Link("Runbook", "https://elsewhere.example/rb"),
                     rendering.Link("Source graph", "http://prom:9090/graph?g0.expr=up")]
    assert rendering.alert_links({"runbook": "disk-full"}, None) == [
        rendering.Link("Runbook disk-full (not among Vigil's runbooks)", "")]  # no runbooks read: none known
    assert rendering.mentions_runbook({"runbook": "x"}) and not rendering.mentions_runbook({"summary": "x"})


def test_pending_escalation_steps_say_what_and_when():
    escalation = {"timers": [
        {"state": "fired", "action": "page", "role": "primary", "due_at": "2026-03-01T02:55:00+00:00", "reason": ""},
        {"state": "pending", "action": "page", "role": "backup", "due_at": "2026-03-01T03:04:00+00:00", "reason": "step 2"},
        {"state": "pending", "action": "ack_check", "role": "primary", "due_at": "2026-03-01T02:59:00+00:00", "reason": ""},
    ]}
    assert [(s["what"], s["when"], s["at"]) for s in rendering.pending_steps(escalation, NOW)] == [
        ("page the primary again if the acknowledgement lapses", "due now", "2026-03-01 02:59 UTC"),
        ("page the backup", "in 4 min", "2026-03-01 03:04 UTC"),
    ]


@pytest.mark.parametrize(("incident", "postmortem", "sevs", "text"), [
    ({"severity": 1, "status": "resolved"}, {"status": "in_review"}, [1, 2], "Postmortem (in review)"),
    ({"severity": 1, "status": "investigating"}, None, [1, 2], "SEV1 gets a postmortem when it resolves"),
    ({"severity": 2, "status": "resolved"}, None, [1, 2], "Postmortem needed: not written yet"),
    ({"severity": 3, "status": "resolved"}, None, [1, 2], None),
    ({"severity": 3, "status": "resolved"}, {"status": "draft"}, [1, 2], "Postmortem (draft)"),
    ({"severity": 1, "status": "resolved"}, None, None, None),
])
def test_the_postmortem_link_when_the_incident_has_or_needs_one(incident, postmortem, sevs, text):
    assert rendering.needs_postmortem(incident, postmortem, sevs) == text


@pytest.mark.parametrize(("method", "name", "address"), [
    ({"id": "email", "kind": "email", "address": "alice@example.com"}, "E-mail", "alice@example.com"),
    ({"id": "slack", "kind": "slack", "address": "https://hooks.slack.com/services/T0/B0/secret"}, "Slack", "hooks.slack.com"),
    ({"id": "phone", "kind": "apprise", "address": "twilio://sid:token@+15550001/+447700900123", "label": "SMS"},
     "SMS", "twilio://…/+447700900123"),
    ({"id": "push", "kind": "apprise", "address": "pover://user@token"}, "Apprise", "pover://…"),
])
def test_contact_methods_show_no_secrets(method, name, address):
    view = rendering.method_view(method)
    assert (view["name"], view["address"]) == (name, address)


def test_notification_rules_in_words():
    methods = [{"id": "phone", "kind": "apprise", "address": "twilio://s:t@+1/+44770", "label": "SMS"},
               {"id": "email", "kind": "email", "address": "a@example.com"}]
    steps = [{"after_s": 0, "method": "phone"}, {"after_s": 300, "method": "email"}]
    assert rendering.rule_text(steps, methods, channel="page") == "SMS at once, then E-mail after 5 min"
    assert rendering.rule_text([], methods, channel="page") == "every method at once"
    assert rendering.rule_text([], methods, channel="notify") == "SMS at once (the first method)"
    assert rendering.rule_text([], [], channel="page") == "nothing: you have no contact method"


@pytest.mark.parametrize(("delivery", "ok", "words"), [
    ({"state": "sent", "method": "email", "answer": "250 2.0.0 Ok"}, True, "Test message sent to email: 250 2.0.0 Ok"),
    ({"state": "failed", "method": "slack", "last_error": "HTTP 410"}, False, "failed: HTTP 410"),
    ({"state": "retrying", "method": "email", "last_error": "timeout"}, False, "not delivered yet (retrying: timeout)"),
])
def test_what_a_test_message_came_to(delivery, ok, words):
    outcome = rendering.test_outcome(delivery)
    assert outcome["ok"] is ok and words in outcome["text"]
