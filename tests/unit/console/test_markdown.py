"""The incident service's Markdown as console HTML: raw HTML stays text, only http(s)/mailto/local
links survive, and links to Vigil objects open in the console."""

from __future__ import annotations

import re

import pytest

from services.console.markdown import VigilLinks, allowed, console_href, render

LINKS = VigilLinks.of(
    base_urls=["http://incidents.internal:8081", "https://vigil.example.com/", None],
    runbooks=[{"id": 3, "name": "DB failover", "link": "https://wiki.example.com/db-failover"},
              {"id": 4, "name": "db", "link": None}],  # too short a name to look for in text
)


def hrefs(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]*)"', html)


def test_a_script_tag_in_markdown_stays_text():
    html = render("Hello <script>alert(1)</script> and <img src=x onerror=alert(1)>")
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_raw_html_block_stays_text():
    html = render("<div onclick=\"x()\">\nclick\n</div>\n")
    assert "<div" not in html and "&lt;div onclick=&quot;x()&quot;&gt;" in html


def test_text_is_escaped():
    assert "a &amp; b &lt; c &quot;d&quot;" in render('a & b < c "d"')


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))", "[x](JavaScript:alert(1))", "[x](data:text/html,<b>x</b>)", "[x](vbscript:msgbox)",
    "<javascript:alert(1)>", "[x](file:///etc/passwd)",
])
def test_links_with_other_schemes_are_dropped_and_their_text_stays(link):
    html = render(f"see {link} now")
    assert "<a" not in html and "see " in html and " now" in html


@pytest.mark.parametrize(("url", "ok"), [
    ("https://example.com/a", True), ("http://example.com", True), ("mailto:ops@example.com", True),
    ("/incidents/INC-3", True), ("#top", True), ("javascript:alert(1)", False), ("data:text/html,x", False),
    ("ftp://example.com/x", False), ("http:/no-host", False),
])
def test_allowed_link_schemes(url, ok):
    assert allowed(url) is ok


def test_http_and_mailto_links_are_kept():
    html = render("[docs](https://example.com/docs) and <mailto:ops@example.com>")
    assert hrefs(html) == ["https://example.com/docs", "mailto:ops@example.com"]


@pytest.mark.parametrize(("url", "console"), [
    ("http://incidents.internal:8081/api/v1/incidents/7", "/incidents/INC-7"),
    ("http://incidents.internal:8081/api/v1/incidents/INC-7", "/incidents/INC-7"),
    ("https://vigil.example.com/incidents/7", "/incidents/INC-7"),
    ("/incidents/7", "/incidents/INC-7"),
    ("/api/v1/incidents/inc-12/", "/incidents/INC-12"),
    ("/operations/postmortems/5", "/operations/postmortems/INC-5"),
    ("http://incidents.internal:8081/api/v1/runbooks/3", "/operations/runbooks/3"),
    ("https://wiki.example.com/db-failover", "/operations/runbooks/3"),
    ("https://elsewhere.example.com/incidents/7", None),  # not a Vigil host
    ("http://incidents.internal:8081/api/v1/incidents/7/timeline", None),
    ("https://example.com/docs", None),
])
def test_links_to_vigil_objects_open_in_the_console(url, console):
    assert console_href(url, LINKS) == console


def test_markdown_links_to_incidents_are_rewritten():
    html = render("[the API](http://incidents.internal:8081/api/v1/incidents/7), [page](https://vigil.example.com/incidents/8)",
                  LINKS)
    assert hrefs(html) == ["/incidents/INC-7", "/incidents/INC-8"]


def test_bare_incident_mentions_become_console_links():
    html = render("## Incident: INC-42\n\nINC-3 (SEV1) is investigating; see also XINC-5 and INC-6x", LINKS)
    assert hrefs(html) == ["/incidents/INC-42", "/incidents/INC-3"]
    assert '<h2>Incident: <a href="/incidents/INC-42">INC-42</a></h2>' in html


def test_mentions_in_code_and_inside_links_are_left_alone():
    html = render("`INC-3` and [INC-4 notes](https://example.com/n)", LINKS)
    assert hrefs(html) == ["https://example.com/n"]
    assert "<code>INC-3</code>" in html


def test_runbook_names_and_document_urls_open_the_runbook_page():
    html = render("- runbook DB failover outdated: never updated\n- DB failover (https://wiki.example.com/db-failover)\n"
                  "- a db restart", LINKS)
    assert hrefs(html) == ["/operations/runbooks/3"] * 3


def test_bare_urls_become_links_without_trailing_punctuation():
    html = render("Dashboards at https://grafana.example.com/d/1. Done.", LINKS)
    assert hrefs(html) == ["https://grafana.example.com/d/1"]
    assert "</a>. Done." in html


def test_tables_render_inside_a_scrolling_box():
    html = render("| ID | Severity |\n|----|----------|\n| INC-9 | SEV2 |\n", LINKS)
    assert '<div class="md-table" tabindex="0">\n<table>' in html and "</table>\n</div>" in html
    assert '<td><a href="/incidents/INC-9">INC-9</a></td>' in html
    assert "<th>Severity</th>" in html


def test_task_list_boxes_read_as_ticks():
    html = render("- [x] All services healthy\n- [ ] Review overnight alerts\n")
    assert "<li>☑ All services healthy</li>" in html and "<li>☐ Review overnight alerts</li>" in html


def test_images_are_not_loaded():
    html = render("![chart](https://example.com/c.png)")
    assert "<img" not in html


def test_empty_markdown_is_empty_html():
    assert render("") == ""


@pytest.mark.parametrize(("text", "html"), [
    ("# Postmortem: x\n\n## Summary\n\n###### deep", "<h2>Postmortem: x</h2>\n<h3>Summary</h3>\n<h6>deep</h6>\n"),
    ("## Daily Operations Check\n\n### Health Checks", "<h2>Daily Operations Check</h2>\n<h3>Health Checks</h3>\n"),
    ("### Only a third level", "<h2>Only a third level</h2>\n"),
])
def test_the_documents_top_headings_sit_just_below_the_pages_own_title(text, html):
    assert render(text) == html


def test_one_field_a_line_stays_one_a_line():
    assert render("**Date:** 2026-12-01\n**Operator:** kim") == \
        "<p><strong>Date:</strong> 2026-12-01<br />\n<strong>Operator:</strong> kim</p>\n"
