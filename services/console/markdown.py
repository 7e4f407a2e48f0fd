"""PURE: the incident service's Markdown (reports, postmortems, handoffs, the runbook review) as
HTML a console page can carry. Raw HTML stays text, links go only to http(s), mailto or this site,
and whatever names a Vigil object opens in the console: an incident link in any of the forms Vigil
writes (`{incidents_url}/api/v1/incidents/7`, `{console}/incidents/7`) or a bare `INC-7` mention
becomes `/incidents/INC-7`; a runbook's API path, its document's URL or its name becomes
`/operations/runbooks/{id}`. Bare http(s) URLs in text become links too (the templates write them
as text: "DB failover (https://wiki/db)")."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from markdown_it import MarkdownIt
from markdown_it.rules_core import StateCore
from markdown_it.token import Token
from markupsafe import Markup

SCHEMES = ("http", "https", "mailto")
INCIDENT_PATH = re.compile(r"^(?:/api/v1)?/incidents/(?:inc-)?(\d{1,18})/?$", re.IGNORECASE)
POSTMORTEM_PATH = re.compile(r"^/operations/postmortems/(?:inc-)?(\d{1,18})/?$", re.IGNORECASE)
RUNBOOK_PATH = re.compile(r"^(?:/api/v1|/operations)/runbooks/(\d{1,18})/?$")
MENTION = re.compile(r"(?<![\w-])INC-(\d{1,18})(?!\w)|https?://[^\s<>()\[\]\"']+")
TRAILING = ".,;:!?'\""
CHECKBOXES = {"[ ] ": "☐ ", "[x] ": "☑ ", "[X] ": "☑ "}


@dataclass(frozen=True)
class VigilLinks:
    """What counts as a link to a Vigil object: the origins of the console and the services it
    reads (`http://host:port`), and the stored runbooks (document URL → id, name → id)."""

    origins: frozenset[str] = frozenset()
    runbook_urls: Mapping[str, int] = field(default_factory=dict)
    runbook_names: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, *, base_urls: Iterable[str | None] = (), runbooks: Iterable[Mapping] = ()) -> VigilLinks:
        runbooks = list(runbooks)
        return cls(
            origins=frozenset(o for url in base_urls if url and (o := origin(url))),
            runbook_urls={r["link"].strip(): r["id"] for r in runbooks if r.get("link")},
            runbook_names={r["name"].strip(): r["id"] for r in runbooks if r.get("name") and len(r["name"].strip()) >= 3},
        )


NO_LINKS = VigilLinks()


def origin(url: str) -> str | None:
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme in ("http", "https") and parts.netloc else None


def allowed(url: str) -> bool:
    """http(s), mailto, or a link within this site (a path, a fragment): nothing a browser would run."""
    parts = urlsplit(url.strip())
    if parts.scheme:
        return parts.scheme in SCHEMES and (parts.scheme == "mailto" or bool(parts.netloc))
    return not any(ord(c) < 32 for c in url)


def console_href(url: str, links: VigilLinks = NO_LINKS) -> str | None:
    """The console page of the Vigil object `url` points at, or None when it names none."""
    url = url.strip()
    if url in links.runbook_urls:
        return f"/operations/runbooks/{links.runbook_urls[url]}"
    parts = urlsplit(url)
    if parts.scheme or parts.netloc:
        if origin(url) not in links.origins:
            return None
    elif not parts.path.startswith("/"):
        return None
    if found := INCIDENT_PATH.match(parts.path):
        return f"/incidents/INC-{int(found.group(1))}"
    if found := POSTMORTEM_PATH.match(parts.path):
        return f"/operations/postmortems/INC-{int(found.group(1))}"
    if found := RUNBOOK_PATH.match(parts.path):
        return f"/operations/runbooks/{int(found.group(1))}"
    return None


def href_of(url: str, links: VigilLinks = NO_LINKS) -> str | None:
    """Where a link in the Markdown goes: the console's page of a Vigil object, the URL itself when
    it is allowed, else nowhere (the link is dropped and its text stays)."""
    return console_href(url, links) or (url.strip() if allowed(url) else None)


def _link(href: str, text: str) -> list[Token]:
    opening = Token("link_open", "a", 1)
    opening.attrSet("href", href)
    inner = Token("text", "", 0)
    inner.content = text
    return [opening, inner, Token("link_close", "a", -1)]


def _text(content: str) -> Token:
    token = Token("text", "", 0)
    token.content = content
    return token


def _names_pattern(names: Iterable[str]) -> re.Pattern | None:
    ordered = sorted(names, key=len, reverse=True)
    return re.compile("|".join(rf"(?<!\w){re.escape(n)}(?!\w)" for n in ordered)) if ordered else None


def _mentions(text: str, links: VigilLinks, names: re.Pattern | None) -> list[tuple[int, int, str]]:
    """(start, end, href) of what in `text` names a Vigil object or is a bare URL, without overlaps."""
    found: list[tuple[int, int, str]] = []
    for m in MENTION.finditer(text):
        if m.group(1):
            found.append((m.start(), m.end(), f"/incidents/INC-{int(m.group(1))}"))
            continue
        url = m.group(0).rstrip(TRAILING)
        if href := href_of(url, links):
            found.append((m.start(), m.start() + len(url), href))
    if names is not None:
        for m in names.finditer(text):
            if not any(s < m.end() and m.start() < e for s, e, _ in found):
                found.append((m.start(), m.end(), f"/operations/runbooks/{links.runbook_names[m.group(0)]}"))
    return sorted(found)


def _linked(children: list[Token], links: VigilLinks, names: re.Pattern | None) -> list[Token]:
    out: list[Token] = []
    depth = 0  # inside a link: its text is not linked again
    dropped: list[bool] = []  # per open link: was it dropped (its href not allowed)?
    for token in children:
        if token.type == "link_open":
            href = href_of(str(token.attrGet("href") or ""), links)
            dropped.append(href is None)
            depth += 1
            if href is not None:
                token.attrSet("href", href)
                out.append(token)
            continue
        if token.type == "link_close":
            depth -= 1
            if not dropped.pop():
                out.append(token)
            continue
        if token.type != "text" or depth:
            out.append(token)
            continue
        position = 0
        for start, end, href in _mentions(token.content, links, names):
            if start > position:
                out.append(_text(token.content[position:start]))
            out.extend(_link(href, token.content[start:end]))
            position = end
        if position < len(token.content):
            out.append(_text(token.content[position:]))
    return out


def _vigil_links(state: StateCore) -> None:
    links: VigilLinks = state.env.get("links", NO_LINKS)
    names = _names_pattern(links.runbook_names)
    tokens = state.tokens
    # The page has its own h1: the document's top headings become h2 ("# Postmortem", "## Daily Operations Check").
    levels = [int(t.tag[1]) for t in tokens if t.type == "heading_open"]
    shift = 2 - min(levels) if levels else 0
    for i, token in enumerate(tokens):
        if token.type in ("heading_open", "heading_close"):
            token.tag = f"h{max(2, min(int(token.tag[1]) + shift, 6))}"
        if token.type != "inline" or not token.children:
            continue
        first = token.children[0]
        if i >= 2 and tokens[i - 2].type == "list_item_open" and first.type == "text" and first.content[:4] in CHECKBOXES:
            first.content = CHECKBOXES[first.content[:4]] + first.content[4:]
        token.children = _linked(token.children, links, names)


def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "breaks": True}).enable("table").disable("image")
    md.validateLink = allowed
    md.core.ruler.push("vigil_links", _vigil_links)
    # breaks: the reports write one field a line ("**Date:** …" then "**Operator:** …"), as people read them.
    # A wide table scrolls inside its own box (a phone), never the page; focusable, so a keyboard can scroll it.
    md.add_render_rule("table_open", lambda self, tokens, idx, options, env: '<div class="md-table" tabindex="0">\n<table>\n')
    md.add_render_rule("table_close", lambda self, tokens, idx, options, env: "</table>\n</div>\n")
    return md


_MD = _parser()


def render(text: str, links: VigilLinks = NO_LINKS) -> Markup:
    """The Markdown `text` as safe HTML (for a template: no `|safe` needed)."""
    return Markup(_MD.render(text or "", {"links": links}))  # markdown-it escapes all text; raw HTML is off
