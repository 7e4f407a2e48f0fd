"""What the console's pages show: times in words, safe links, where a form may send the browser."""

from datetime import UTC, datetime, timedelta

import pytest

from services.console import rendering

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
