"""What people receive: subjects, the e-mail's text and HTML parts, Slack's Block Kit, Apprise's
title and body; bundles ("and 11 more incidents"); nothing that can inject a header, markup or a
javascript: link; Message-IDs and threads."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from services.notifier.links import action_links
from services.notifier.messages import (
    EMAIL_LISTED, PLAIN_LISTED, SLACK_LISTED, IncidentRef, Page, check_notice, email, message_id, mrkdwn,
    one_line, page_notice, page_summary, plain, shift_notice, slack, thread_id, ticket_notice, web_url,
)
from shared.events import PageRequested, TicketRequested

T0 = datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
KEY = b"k" * 32
BASE = "https://vigil.example.com"
ACTIONS = action_links(KEY, public_url=BASE, incident_id=12, person="alice", now=T0)
INC12 = IncidentRef(incident_id=12, number="INC-12", severity=1, title="Checkout 5xx above 5 %", url=f"{BASE}/incidents/12")


def page(*, title: str = INC12.title, channel: str = "page", reason: str = "initial", role: str = "primary",
         links: tuple = (("runbook", "https://wiki.example.com/checkout"),), person: str = "alice") -> Page:
    incident = IncidentRef(incident_id=12, number="INC-12", severity=1, title=title, url=INC12.url)
    return Page(page_id="page-1", incident=incident, person=person, role=role, channel=channel, reason=reason,
                paged_at=T0, links=links)


def others(count: int) -> list[IncidentRef]:
    return [IncidentRef(incident_id=100 + i, number=f"INC-{100 + i}", severity=2 + i % 3, title=f"Disk full on db-{i}",
                        url=f"{BASE}/incidents/{100 + i}", ack_url=f"{BASE}/ack/tok{i}") for i in range(count)]


class Anchors(HTMLParser):
    """The href of every link in an HTML document, and the text of every element."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.hrefs += [value for name, value in attrs if name == "href"]


def anchors(html: str) -> Anchors:
    parser = Anchors()
    parser.feed(html)
    return parser


# -- subjects and wording ---------------------------------------------------------------------------


def test_the_subject_says_severity_incident_title_and_that_it_is_a_page():
    assert page_notice(page()).subject == "[SEV1] INC-12 Checkout 5xx above 5 % (page)"


def test_a_non_paging_notification_says_so():
    assert page_notice(page(channel="notify")).subject == "[SEV1] INC-12 Checkout 5xx above 5 % (notification)"


@pytest.mark.parametrize("count, tail", [(1, " and 1 more incident (page)"), (11, " and 11 more incidents (page)")])
def test_a_bundle_counts_the_other_incidents_in_the_subject(count, tail):
    assert page_notice(page(), bundled=others(count)).subject == "[SEV1] INC-12 Checkout 5xx above 5 %" + tail


@pytest.mark.parametrize(
    "title", ["Checkout\r\nBcc: victim@example.com", "Checkout\nX-Injected: 1", "Checkout\u2028down", "Check\x00out\x1b[31m", "\r\n"],
)
def test_no_line_break_or_control_character_reaches_the_subject(title):
    subject = page_notice(page(title=title)).subject
    assert not any(ch in subject for ch in "\r\n\x00\x1b\u2028\u2029\x85")
    assert subject.startswith("[SEV1] INC-12 ") and subject.endswith(" (page)")


def test_an_empty_title_still_reads():
    assert page_notice(page(title=" \n ")).subject == "[SEV1] INC-12 (no title) (page)"


def test_a_long_title_is_cut_at_a_word_with_an_ellipsis():
    title = "Checkout latency above the objective in every region " * 5
    subject = page_notice(page(title=title)).subject
    cut = subject.removeprefix("[SEV1] INC-12 ").removesuffix(" (page)")
    assert cut.endswith("…") and len(cut) <= 100 and title.startswith(cut[:-1])
    assert title[len(cut) - 1] == " "  # the cut fell between words
    assert len(subject) <= 160


@pytest.mark.parametrize(
    "text, limit, expected",
    [
        ("a  b\t\tc\r\nd", 100, "a b c d"),
        ("  padded  ", 100, "padded"),
        ("exactly ten", 11, "exactly ten"),
        ("one two three four five", 16, "one two three…"),
        ("one two three four five", 12, "one two thr…"),  # the last word ends too far back: cut in the word
        ("abcdefghijklmnopqrstuvwxyz", 10, "abcdefghi…"),  # no word ends near: cut in the word
        ("x\u0085y\u2029z", 10, "x y z"),
    ],
)
def test_one_line(text, limit, expected):
    assert one_line(text, limit=limit) == expected


@pytest.mark.parametrize(
    "channel, role, reason, summary",
    [
        ("page", "primary", "initial", "Paged as the primary on call."),
        ("page", "backup", "escalation", "Escalated to you as the backup on call: nobody has acknowledged it yet."),
        ("page", "primary", "repeat", "Paged again as the primary on call: still not acknowledged."),
        ("page", "primary", "ack-timeout", "Paged again as the primary on call: it was acknowledged but not resolved in time."),
        ("page", "override", "initial", "Paged as the on-call override."),
        ("page", "primary", "manual page by carol", "Paged as the primary on call: manual page by carol"),
        ("notify", "primary", "initial", "For your information as the primary on call: this is not a page yet."),
    ],
)
def test_the_first_line_says_why_the_person_gets_it(channel, role, reason, summary):
    assert page_summary(channel=channel, role=role, reason=reason) == summary
    assert page_notice(page(channel=channel, role=role, reason=reason)).summary == summary


@pytest.mark.parametrize(
    "url, shown",
    [
        ("https://wiki.example.com/a?b=1&c=2#d", True),
        ("http://grafana:3000/d/x", True),
        ("javascript:alert(1)", False),
        ("JAVASCRIPT://%0aalert(1)", False),
        ("data:text/html,<script>", False),
        ("https://x.example/\"onmouseover=alert(1)", False),
        ("https://x.example/a b", False),
        ("https://x.example/<b>", False),
        ("https://x.example/a|b", False),
        ("", False),
        (None, False),
    ],
)
def test_only_plain_http_urls_become_links(url, shown):
    assert web_url(url) == (url if shown else None)


# -- e-mail -----------------------------------------------------------------------------------------


def test_the_email_text_part_reads_on_a_phone_with_the_actions_first():
    mail = email(page_notice(page(), actions=ACTIONS), delivery_id="d-1", mail_domain="vigil.example.com")
    assert mail.text.splitlines()[:9] == [
        "[SEV1] INC-12 Checkout 5xx above 5 %",
        "Paged as the primary on call.",
        "",
        f"Acknowledge: {ACTIONS.ack_url}",
        f"Resolve: {ACTIONS.resolve_url}",
        "(Each link opens a page where you confirm; they work until 2026-11-27 10:00 UTC.)",
        "",
        f"Incident: {BASE}/incidents/12",
        "Runbook: https://wiki.example.com/checkout",
    ]
    assert mail.text.rstrip().endswith("Vigil, for alice.")


def test_the_email_html_part_has_big_action_links_and_the_incident_links():
    mail = email(page_notice(page(), actions=ACTIONS), delivery_id="d-1", mail_domain="vigil.example.com")
    parsed = anchors(mail.html)
    assert parsed.hrefs == [INC12.url, ACTIONS.ack_url, ACTIONS.resolve_url, INC12.url, "https://wiki.example.com/checkout"]
    assert '<meta name="viewport"' in mail.html
    assert ">Acknowledge</a>" in mail.html and ">Resolve</a>" in mail.html
    assert "display:block" in mail.html.split(ACTIONS.ack_url)[1].split(">")[0]  # a full-width button


def test_html_in_a_title_or_name_is_escaped_in_the_html_part_and_left_as_text_in_the_text_part():
    evil = '<script>alert(1)</script> & "quotes"'
    mail = email(page_notice(page(title=evil, person="<b>bob</b>"), actions=ACTIONS), delivery_id="d-1", mail_domain="x.example")
    assert "<script>" not in mail.html and "<b>bob" not in mail.html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &#34;quotes&#34;" in mail.html
    assert "&lt;b&gt;bob&lt;/b&gt;" in mail.html
    assert "script" not in anchors(mail.html).tags
    assert evil in mail.text


def test_a_javascript_runbook_link_is_left_out_of_every_part():
    notice = page_notice(page(links=(("runbook", "javascript:alert(1)"), ("dashboard", "https://grafana.example.com/d/1"))))
    mail = email(notice, delivery_id="d-1", mail_domain="x.example")
    for text in (mail.text, mail.html, json.dumps(slack(notice)), plain(notice)[1]):
        assert "javascript" not in text
        assert "https://grafana.example.com/d/1" in text
    assert "Dashboard: https://grafana.example.com/d/1" in mail.text


def test_without_links_the_email_offers_no_actions():
    mail = email(page_notice(page()), delivery_id="d-1", mail_domain="x.example")
    assert "Acknowledge" not in mail.text and "Acknowledge" not in mail.html and "work until" not in mail.text
    assert "Incident: https://vigil.example.com/incidents/12" in mail.text


def test_a_bundle_lists_the_other_incidents_with_their_links_most_severe_first_as_given():
    bundled = others(3)
    mail = email(page_notice(page(), bundled=bundled, actions=ACTIONS), delivery_id="d-1", mail_domain="x.example")
    listing = mail.text.split("3 more incidents in this message:\n")[1]
    assert listing.splitlines()[:6] == [
        "- [SEV2] INC-100 Disk full on db-0", f"  {BASE}/incidents/100", f"  Acknowledge: {BASE}/ack/tok0",
        "- [SEV3] INC-101 Disk full on db-1", f"  {BASE}/incidents/101", f"  Acknowledge: {BASE}/ack/tok1",
    ]
    hrefs = anchors(mail.html).hrefs
    assert [h for h in hrefs if "/ack/tok" in h] == [f"{BASE}/ack/tok{i}" for i in range(3)]
    assert "3 more incidents in this message</h2>" in mail.html


def test_a_large_bundle_lists_the_first_ones_and_counts_the_rest():
    mail = email(page_notice(page(), bundled=others(EMAIL_LISTED + 5)), delivery_id="d-1", mail_domain="x.example")
    assert mail.text.count("\n- [SEV") == EMAIL_LISTED
    assert "- …and 5 more." in mail.text and "…and 5 more.</li>" in mail.html
    assert f"and {EMAIL_LISTED + 5} more incidents" in mail.subject


def test_message_id_is_per_delivery_and_the_thread_per_incident():
    mail = email(page_notice(page()), delivery_id="4a1c9e2d-1111-5222-8333-444455556666", mail_domain="vigil.example.com")
    assert mail.message_id == "<4a1c9e2d-1111-5222-8333-444455556666@vigil.example.com>"
    assert mail.thread_id == "<incident-12@vigil.example.com>" == thread_id(12, mail_domain="vigil.example.com")
    again = email(page_notice(page()), delivery_id="4a1c9e2d-1111-5222-8333-444455556666", mail_domain="vigil.example.com")
    assert again == mail  # a resend after a crash is the same message


@pytest.mark.parametrize("domain", ["", "vigil.example.com>\r\nBcc: x@y", "a b", "-x.example", "x.example.", "exa@mple"])
def test_a_bad_mail_domain_is_refused(domain):
    with pytest.raises(ValueError, match="mail domain"):
        message_id("d-1", mail_domain=domain)


@pytest.mark.parametrize("delivery", ["", "a b", "a>b", "a@b", "x\r\n"])
def test_a_delivery_id_that_cannot_go_into_a_message_id_is_refused(delivery):
    with pytest.raises(ValueError, match="Message-ID"):
        message_id(delivery, mail_domain="x.example")


# -- Slack ------------------------------------------------------------------------------------------


def test_slack_has_acknowledge_and_resolve_buttons_carrying_the_signed_tokens_and_a_text_fallback():
    message = slack(page_notice(page(), actions=ACTIONS))
    assert message["text"] == "[SEV1] INC-12 Checkout 5xx above 5 % (page)"
    [actions] = [b for b in message["blocks"] if b["type"] == "actions"]
    ack, resolve = actions["elements"]
    assert (ack["action_id"], ack["value"], ack["text"]["text"], ack["style"]) == ("vigil_ack", ACTIONS.ack_token, "Acknowledge", "primary")
    assert (resolve["action_id"], resolve["value"], resolve["style"]) == ("vigil_resolve", ACTIONS.resolve_token, "danger")
    assert resolve["confirm"]["title"]["text"] == "Resolve INC-12?"
    assert "url" not in ack  # a click goes to the interactivity endpoint, not also to a browser
    assert message["blocks"][0] == {"type": "header", "text": {"type": "plain_text", "text": "[SEV1] INC-12 Checkout 5xx above 5 %"}}
    context = message["blocks"][-1]["elements"][0]["text"]
    assert f"<{ACTIONS.ack_url}|acknowledge>" in context and "2026-11-27 10:00 UTC" in context
    json.dumps(message)


def test_slack_without_links_has_no_buttons():
    message = slack(page_notice(page()))
    assert [b["type"] for b in message["blocks"]] == ["header", "section"]


def test_slack_text_cannot_mention_everyone_or_fake_a_link():
    notice = page_notice(page(title="<!channel> pay <https://evil.example|here> & now"), actions=ACTIONS)
    section = slack(notice)["blocks"][1]["text"]["text"]
    assert mrkdwn("<!channel> & x") == "&lt;!channel&gt; &amp; x"
    message = slack(page_notice(page(title="x"), bundled=[IncidentRef(5, "INC-5", 2, "<!here> <https://evil|y>")]))
    assert "<!here>" not in json.dumps(message) and "<https://evil" not in json.dumps(message)
    assert "<!channel>" not in section


def test_slack_lists_at_most_ten_bundled_incidents():
    message = slack(page_notice(page(), bundled=others(SLACK_LISTED + 3), actions=ACTIONS))
    [listing] = [b for b in message["blocks"] if b["type"] == "section" and "in this message" in b["text"]["text"]]
    lines = listing["text"]["text"].splitlines()
    assert lines[0] == f"*{SLACK_LISTED + 3} more incidents* in this message:"
    assert lines[1] == f"• <{BASE}/incidents/100|INC-100> [SEV2] Disk full on db-0 · <{BASE}/ack/tok0|acknowledge>"
    assert len(lines) == 1 + SLACK_LISTED + 1 and lines[-1] == "…and 3 more."


def test_slack_texts_stay_within_block_kit_limits():
    notice = page_notice(page(title="x" * 5000, reason="r" * 5000), bundled=others(40), actions=ACTIONS)
    message = slack(notice)
    assert len(message["blocks"][0]["text"]["text"]) <= 150
    assert all(len(b["text"]["text"]) <= 3000 for b in message["blocks"] if b["type"] == "section")
    assert len(message["blocks"]) <= 50


# -- Apprise ----------------------------------------------------------------------------------------


def test_plain_is_short_with_the_actions_as_urls():
    title, body = plain(page_notice(page(), actions=ACTIONS))
    assert title == "[SEV1] INC-12 Checkout 5xx above 5 % (page)"
    assert body.splitlines() == [
        "Paged as the primary on call.", f"Acknowledge: {ACTIONS.ack_url}", f"Resolve: {ACTIONS.resolve_url}",
        f"Incident: {BASE}/incidents/12", "Runbook: https://wiki.example.com/checkout",
    ]


def test_plain_names_the_first_bundled_incidents_and_counts_all():
    _, body = plain(page_notice(page(links=()), bundled=others(PLAIN_LISTED + 6)))
    assert body.splitlines()[-1] == f"+{PLAIN_LISTED + 6} more incidents: INC-100, INC-101, INC-102, INC-103, INC-104 …"
    _, body = plain(page_notice(page(links=()), bundled=others(2)))
    assert body.splitlines()[-1] == "+2 more incidents: INC-100, INC-101"


# -- from events, tickets, shifts, test messages ----------------------------------------------------


def test_a_page_from_the_event_keeps_what_a_message_needs():
    event = PageRequested(
        event_id="e", occurred_at=T0 + timedelta(seconds=2), source="escalator", page_id="p-7", incident_id=12,
        number="INC-12", severity=1, title="Checkout 5xx above 5 %", target="alice", role="backup", reason="escalation",
        step=1, due_at=T0, links={"incident": f"{BASE}/api/v1/incidents/12", "runbook": "https://wiki/r", "dashboard": "https://g/d"},
    )
    p = Page.of(event)
    assert (p.page_id, p.person, p.role, p.channel, p.reason, p.paged_at) == ("p-7", "alice", "backup", "page", "escalation", T0)
    assert p.incident == IncidentRef(12, "INC-12", 1, "Checkout 5xx above 5 %", url=f"{BASE}/api/v1/incidents/12")
    assert p.links == (("dashboard", "https://g/d"), ("runbook", "https://wiki/r"))
    assert Page.of(event, incident_url=f"{BASE}/ui/12").incident.url == f"{BASE}/ui/12"
    no_due = event.model_copy(update={"due_at": None})
    assert Page.of(no_due).paged_at == T0 + timedelta(seconds=2)


def test_a_ticket_says_when_it_is_due():
    ticket = TicketRequested(event_id="e", occurred_at=T0, source="escalator", ticket_id="t-1", incident_id=14,
                             number="INC-14", severity=3, title="Disk 80 % full", due_at=T0 + timedelta(hours=1), assignee="bob")
    notice = ticket_notice(ticket, person="bob", incident_url=f"{BASE}/incidents/14")
    assert notice.subject == "[SEV3] INC-14 Disk 80 % full (ticket)"
    assert notice.summary == "A ticket for you, due by 2026-11-26 11:00 UTC."
    mail = email(notice, delivery_id="d-2", mail_domain="x.example")
    assert mail.thread_id == "<incident-14@x.example>" and f"Incident: {BASE}/incidents/14" in mail.text


def test_shift_notices_say_when_the_shift_starts_and_ends():
    start = shift_notice(person="alice", schedule="platform", role="primary", starting=True, at=T0, until=T0 + timedelta(days=7))
    assert start.subject == "You are on call for platform from 2026-11-26 10:00 UTC"
    assert start.summary == "You are the primary on call for platform from 2026-11-26 10:00 UTC until 2026-12-03 10:00 UTC."
    end = shift_notice(person="alice", schedule="platform", role="backup", starting=False, at=T0)
    assert end.subject == "Your on-call shift for platform ends at 2026-11-26 10:00 UTC"
    assert end.summary == "You stop being the backup on call for platform at 2026-11-26 10:00 UTC."
    mail = email(start, delivery_id="d-3", mail_domain="x.example")
    assert mail.thread_id is None and "platform" in mail.html and "Acknowledge" not in mail.text
    assert slack(end)["text"] == end.subject and plain(end) == (end.subject, end.summary)


def test_a_test_message_names_the_contact_method():
    notice = check_notice(person="alice", method_label="Work phone\r\nBcc: x", at=T0)
    assert notice.subject == "Vigil test message to Work phone Bcc: x"
    assert "Nothing to do" in email(notice, delivery_id="test-1", mail_domain="x.example").text
