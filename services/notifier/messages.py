"""PURE: what a person receives. A page, ticket or shift change becomes a `Notice` (what to say,
whatever the medium), which `email`, `slack` and `plain` (Apprise) render; `webhook` builds the
versioned JSON body of a page for machines, documented by `webhook_schema()`.

Wording rules, tested in tests/unit/notifier/test_messages.py:
- The subject says severity, incident, title and what this is: "[SEV1] INC-12 Checkout 5xx above
  5 % (page)"; a bundle adds "and 11 more incidents". It is one line of at most ~160 characters
  (no CR/LF or other control characters can reach a header), titles are cut at a word with "…".
- The first lines say why the person gets it ("Paged as the primary on call."), then the actions
  as big links (each opens a confirmation page: a mail scanner following it acts on nothing).
- Only http(s) URLs become links; HTML is escaped by Jinja2's autoescape, Slack text by its rules.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, Literal

import jinja2
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from services.notifier.links import ActionLinks
from shared.events import PageRequested, TicketRequested

NoticeKind = Literal["page", "notify", "ticket", "shift", "check", "report"]
ButtonId = Literal["vigil_ack", "vigil_resolve"]

SUBJECT_TITLE_CHARS = 100
BODY_TITLE_CHARS = 300
EMAIL_LISTED = 20  # bundled incidents an e-mail lists one by one; the rest are counted
SLACK_LISTED = 10
PLAIN_LISTED = 5
_LABELS: Mapping[NoticeKind, str] = {"page": "page", "notify": "notification", "ticket": "ticket",
                                     "shift": "on call", "check": "test", "report": "report"}
_ROLES = {"primary": "the primary on call", "backup": "the backup on call", "override": "the on-call override"}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_URL_UNSAFE = re.compile(r"[\x00-\x20\x7f<>\"'`|\\^{}]")


# -- text helpers -----------------------------------------------------------------------------------


def one_line(text: str, *, limit: int) -> str:
    """`text` as one line of at most `limit` characters: control characters and line breaks become
    spaces, runs of spaces one, and a longer text is cut at a word (when one ends near) with "…"."""
    flat = _SPACES.sub(" ", _UNSAFE.sub(" ", text)).strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    space = cut.rfind(" ")
    if space >= limit * 3 // 4:
        cut = cut[:space]
    return cut.rstrip() + "…"


def web_url(url: str | None) -> str | None:
    """`url` when it is an http(s) URL safe to put in a link, else None (a javascript: runbook link
    from an alert annotation, or a URL with spaces or quotes, is not shown)."""
    if not url or not url.lower().startswith(("https://", "http://")) or _URL_UNSAFE.search(url):
        return None
    return url


def when(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def severity_label(severity: int) -> str:
    return f"SEV{severity}"


# -- what a message is about ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentRef:
    """An incident as a message names it; `ack_url` (bundled incidents) acknowledges it alone."""

    incident_id: int
    number: str
    severity: int
    title: str
    url: str | None = None
    ack_url: str | None = None


@dataclass(frozen=True, slots=True)
class Page:
    """The fields of a `PageRequested` a message needs (from the event, or the delivery row)."""

    page_id: str
    incident: IncidentRef
    person: str
    role: str
    channel: Literal["page", "notify"]
    reason: str
    paged_at: datetime
    links: tuple[tuple[str, str], ...] = ()  # (name, url) besides the incident's: runbook, dashboards
    late: str | None = None  # sent late, after a gap in which the escalator could not act: how late and why

    @classmethod
    def of(cls, event: PageRequested, *, incident_url: str | None = None) -> Page:
        """`incident_url`: where people look at the incident (default: the event's `incident` link)."""
        incident = IncidentRef(incident_id=event.incident_id, number=event.number, severity=event.severity,
                               title=event.title, url=incident_url or event.links.get("incident"))
        return cls(page_id=event.page_id, incident=incident, person=event.target, role=event.role,
                   channel=event.channel, reason=event.reason, paged_at=event.due_at or event.occurred_at,
                   links=tuple(sorted((k, v) for k, v in event.links.items() if k != "incident")), late=event.late)


@dataclass(frozen=True, slots=True)
class Button:
    action_id: ButtonId
    label: str
    url: str
    token: str


@dataclass(frozen=True, slots=True)
class Notice:
    """What one person is told, whatever the medium. `subject`: one line for subjects and
    notification titles; `heading`: the same without the kind; `summary`: why they get it."""

    kind: NoticeKind
    person: str
    subject: str
    heading: str
    summary: str
    incident: IncidentRef | None = None
    buttons: tuple[Button, ...] = ()
    links: tuple[tuple[str, str], ...] = ()
    bundled: tuple[IncidentRef, ...] = ()
    links_expire_at: datetime | None = None


def _label(name: str) -> str:
    """'runbook' -> 'Runbook', 'grafana_dashboard' -> 'Grafana dashboard'."""
    text = one_line(name.replace("_", " "), limit=40)
    return text[:1].upper() + text[1:]


def _more(count: int) -> str:
    return f"{count} more incident" + ("" if count == 1 else "s")


def _incident_notice(
    *, kind: NoticeKind, person: str, incident: IncidentRef, summary: str, actions: ActionLinks | None,
    links: Sequence[tuple[str, str]] = (), bundled: Sequence[IncidentRef] = (),
) -> Notice:
    title = one_line(incident.title, limit=SUBJECT_TITLE_CHARS) or "(no title)"
    heading = f"[{severity_label(incident.severity)}] {one_line(incident.number, limit=20)} {title}"
    subject = heading + (f" and {_more(len(bundled))}" if bundled else "") + f" ({_LABELS[kind]})"
    buttons: tuple[Button, ...] = ()
    if actions is not None:
        buttons = (Button("vigil_ack", "Acknowledge", actions.ack_url, actions.ack_token),
                   Button("vigil_resolve", "Resolve", actions.resolve_url, actions.resolve_token))
    shown = [("Incident", incident.url), *((_label(name), url) for name, url in links)]
    return Notice(
        kind=kind, person=person, subject=subject, heading=heading, summary=one_line(summary, limit=BODY_TITLE_CHARS),
        incident=incident, buttons=buttons, bundled=tuple(bundled),
        links=tuple((label, url) for label, raw in shown if (url := web_url(raw)) is not None),
        links_expire_at=actions.expires_at if actions else None,
    )


def page_summary(*, channel: str, role: str, reason: str, late: str | None = None) -> str:
    """Why a person gets this page, in one sentence (two when it is sent late)."""
    return _why_paged(channel=channel, role=role, reason=reason) + (f" This page is {late}." if late else "")


def _why_paged(*, channel: str, role: str, reason: str) -> str:
    who = _ROLES.get(role, f"the {role}")
    if channel == "notify":
        return f"For your information as {who}: this is not a page yet."
    return {
        "initial": f"Paged as {who}.",
        "escalation": f"Escalated to you as {who}: nobody has acknowledged it yet.",
        "repeat": f"Paged again as {who}: still not acknowledged.",
        "ack-timeout": f"Paged again as {who}: it was acknowledged but not resolved in time.",
    }.get(reason, f"Paged as {who}: {reason}")


def page_notice(page: Page, *, bundled: Sequence[IncidentRef] = (), actions: ActionLinks | None = None) -> Notice:
    """A page (or a non-paging notification) with the incidents bundled into the same message."""
    return _incident_notice(
        kind=page.channel, person=page.person, incident=page.incident, actions=actions, links=page.links,
        bundled=bundled, summary=page_summary(channel=page.channel, role=page.role, reason=page.reason, late=page.late),
    )


def ticket_notice(ticket: TicketRequested, *, person: str, incident_url: str | None = None,
                  actions: ActionLinks | None = None) -> Notice:
    incident = IncidentRef(incident_id=ticket.incident_id, number=ticket.number, severity=ticket.severity,
                           title=ticket.title, url=incident_url)
    return _incident_notice(kind="ticket", person=person, incident=incident, actions=actions,
                            summary=f"A ticket for you, due by {when(ticket.due_at)}.")


def shift_notice(*, person: str, schedule: str, role: str, starting: bool, at: datetime,
                 until: datetime | None = None) -> Notice:
    """The start (`starting`) or the end of a person's on-call shift."""
    who, what = _ROLES.get(role, f"the {role}"), one_line(schedule, limit=80)
    if starting:
        heading = f"You are on call for {what} from {when(at)}"
        summary = f"You are {who} for {what} from {when(at)}" + (f" until {when(until)}." if until else ".")
    else:
        heading = f"Your on-call shift for {what} ends at {when(at)}"
        summary = f"You stop being {who} for {what} at {when(at)}."
    return Notice(kind="shift", person=person, subject=heading, heading=heading, summary=summary)


def check_notice(*, person: str, method_label: str, at: datetime) -> Notice:
    """The message of a test-send to one contact method."""
    label = one_line(method_label, limit=80)
    heading = f"Vigil test message to {label}"
    return Notice(kind="check", person=person, subject=heading, heading=heading,
                  summary=f"This contact method reaches you: sent at {when(at)} on request. Nothing to do.")


# -- e-mail -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Email:
    """One e-mail. `message_id`: the Message-ID header (the same for a resend of the delivery);
    `thread_id`: In-Reply-To and References, one per incident so clients thread its messages."""

    subject: str
    text: str
    html: str
    message_id: str
    thread_id: str | None


_MAIL_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")
_ID_PART = re.compile(r"[A-Za-z0-9._-]+")


def message_id(delivery_id: str, *, mail_domain: str) -> str:
    _check_id(delivery_id, mail_domain)
    return f"<{delivery_id}@{mail_domain}>"


def thread_id(incident_id: int, *, mail_domain: str) -> str:
    _check_id(str(incident_id), mail_domain)
    return f"<incident-{incident_id}@{mail_domain}>"


def _check_id(left: str, domain: str) -> None:
    if not _MAIL_DOMAIN.fullmatch(domain):
        raise ValueError(f"not a mail domain: {domain!r}")
    if not _ID_PART.fullmatch(left):
        raise ValueError(f"cannot go into a Message-ID: {left!r}")


@cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("services.notifier", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2")),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        auto_reload=False,  # templates are part of the release: no file check per message
    )
    env.filters.update(when=when, more=_more, sev=severity_label)
    env.filters["line"] = lambda text, limit=BODY_TITLE_CHARS: one_line(text, limit=limit)
    return env


def _render(template: str, notice: Notice) -> str:
    listed = notice.bundled[:EMAIL_LISTED]
    return _templates().get_template(template).render(
        notice=notice, listed=listed, unlisted=len(notice.bundled) - len(listed), colour=_SEVERITY_COLOURS,
        web_url=web_url,
    )


_SEVERITY_COLOURS = {1: "#b42318", 2: "#c4320a", 3: "#a15c07", 4: "#175cd3"}


def email(notice: Notice, *, delivery_id: str, mail_domain: str) -> Email:
    return Email(
        subject=notice.subject, text=_render("email.txt.j2", notice), html=_render("email.html.j2", notice),
        message_id=message_id(delivery_id, mail_domain=mail_domain),
        thread_id=thread_id(notice.incident.incident_id, mail_domain=mail_domain) if notice.incident else None,
    )


# -- Slack ------------------------------------------------------------------------------------------


def mrkdwn(text: str) -> str:
    """Text for Slack's mrkdwn: &, < and > are its control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _slack_link(url: str | None, label: str) -> str:
    url = web_url(url)
    return f"<{url}|{mrkdwn(label).replace('|', '¦')}>" if url else mrkdwn(label)


def _slack_button(button: Button, notice: Notice) -> dict[str, Any]:
    element: dict[str, Any] = {"type": "button", "action_id": button.action_id, "value": button.token,
                               "text": {"type": "plain_text", "text": button.label}}
    if button.action_id == "vigil_ack":
        element["style"] = "primary"
    else:
        number = notice.incident.number if notice.incident else "the incident"
        element["style"] = "danger"
        element["confirm"] = {
            "title": {"type": "plain_text", "text": one_line(f"Resolve {number}?", limit=100)},
            "text": {"type": "plain_text", "text": "It is closed for everyone; reopen it from Vigil if it comes back."},
            "confirm": {"type": "plain_text", "text": "Resolve"}, "deny": {"type": "plain_text", "text": "Cancel"},
        }
    return element


def _slack_incident_line(ref: IncidentRef) -> str:
    line = f"• {_slack_link(ref.url, ref.number)} [{severity_label(ref.severity)}] {mrkdwn(one_line(ref.title, limit=80))}"
    return line + (f" · {_slack_link(ref.ack_url, 'acknowledge')}" if web_url(ref.ack_url) else "")


def slack(notice: Notice) -> dict[str, Any]:
    """A Block Kit message (chat.postMessage or an incoming webhook) with Acknowledge and Resolve
    buttons, whose `value` is the signed token the interactivity endpoint verifies; `text` is the
    fallback shown in notifications."""
    body = [mrkdwn(notice.summary)]
    body += [_slack_link(url, label) for label, url in notice.links]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": one_line(notice.heading, limit=150)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(body)}},
    ]
    if notice.buttons:
        blocks.append({"type": "actions", "block_id": "vigil_actions",
                       "elements": [_slack_button(b, notice) for b in notice.buttons]})
    if notice.bundled:
        listed = notice.bundled[:SLACK_LISTED]
        lines = [f"*{_more(len(notice.bundled))}* in this message:", *map(_slack_incident_line, listed)]
        if len(notice.bundled) > len(listed):
            lines.append(f"…and {len(notice.bundled) - len(listed)} more.")
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}})
    if notice.buttons and notice.links_expire_at:
        browser = " · ".join(_slack_link(b.url, b.label.lower()) for b in notice.buttons)
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text":
                       f"In a browser: {browser} (until {when(notice.links_expire_at)})"}]})
    return {"text": notice.subject, "blocks": blocks}


# -- Apprise ----------------------------------------------------------------------------------------


def plain(notice: Notice) -> tuple[str, str]:
    """(title, body) for Apprise: short, since it may end as a text message on a phone."""
    lines = [notice.summary]
    lines += [f"{b.label}: {b.url}" for b in notice.buttons]
    lines += [f"{label}: {url}" for label, url in notice.links]
    if notice.bundled:
        listed = notice.bundled[:PLAIN_LISTED]
        numbers = ", ".join(one_line(r.number, limit=20) for r in listed)
        lines.append(f"+{_more(len(notice.bundled))}: {numbers}" + (" …" if len(notice.bundled) > len(listed) else ""))
    return notice.subject, "\n".join(lines)


# -- webhooks ---------------------------------------------------------------------------------------

# Every field is always in the body, so the schema says so (serialization mode, defaults required).
_BODY = ConfigDict(frozen=True, extra="forbid", json_schema_serialization_defaults_required=True)


class WebhookIncident(BaseModel):
    model_config = _BODY

    id: int = Field(ge=1)
    number: str = Field(description="INC-<n>")
    title: str
    severity: int = Field(ge=1, le=4, description="1 = SEV1 (critical) … 4 = SEV4 (low)")
    url: str | None = Field(description="Where people look at the incident.")


class WebhookLinks(BaseModel):
    model_config = _BODY

    ack: str | None = Field(description="Opens a page that acknowledges the incident as `person` (signed, expires).")
    resolve: str | None = Field(description="Opens a page that resolves the incident as `person` (signed, expires).")
    expires_at: AwareDatetime | None = Field(description="When `ack` and `resolve` stop working.")
    other: dict[str, str] = Field(default_factory=dict, description="The page's other links by name (runbook, dashboards).")


class WebhookBundledIncident(WebhookIncident):
    ack: str | None = Field(default=None, description="Acknowledges this incident as `person`.")


class WebhookPage(BaseModel):
    """The body of a page delivered to a webhook, signed per Standard Webhooks (`webhook-id` is
    `delivery_id`: a resend of the same delivery has the same id and the same body)."""

    model_config = ConfigDict(**_BODY, title="Vigil page (webhook body), version 1")

    type: Literal["page.v1"] = "page.v1"
    delivery_id: str = Field(description="The same for every attempt of this delivery: drop one you have seen.")
    page_id: str
    incident: WebhookIncident
    person: str = Field(description="Who is paged.")
    role: str = Field(description="primary, backup or override")
    channel: Literal["page", "notify"] = Field(description="notify: a notification that is not (yet) a page.")
    reason: str = Field(description="initial, escalation, repeat, ack-timeout, or another reason in words.")
    paged_at: AwareDatetime
    subject: str = Field(description="One line for people, e.g. '[SEV1] INC-12 Checkout 5xx above 5 % (page)'.")
    summary: str = Field(description="Why the person gets this, in a sentence.")
    links: WebhookLinks
    bundled: list[WebhookBundledIncident] = Field(description="Other incidents this message carries (throttling).")


def _webhook_incident(ref: IncidentRef, model: type[WebhookIncident] = WebhookIncident, **extra: Any) -> Any:
    return model(id=ref.incident_id, number=ref.number, title=ref.title, severity=ref.severity,
                 url=web_url(ref.url), **extra)


def webhook(page: Page, *, delivery_id: str, bundled: Sequence[IncidentRef] = (),
            actions: ActionLinks | None = None) -> WebhookPage:
    notice = page_notice(page, bundled=bundled, actions=actions)
    return WebhookPage(
        delivery_id=delivery_id, page_id=page.page_id, incident=_webhook_incident(page.incident),
        person=page.person, role=page.role, channel=page.channel, reason=page.reason, paged_at=page.paged_at,
        subject=notice.subject, summary=notice.summary,
        links=WebhookLinks(ack=actions.ack_url if actions else None, resolve=actions.resolve_url if actions else None,
                           expires_at=actions.expires_at if actions else None,
                           other={name: url for name, raw in page.links if (url := web_url(raw))}),
        bundled=[_webhook_incident(r, WebhookBundledIncident, ack=web_url(r.ack_url)) for r in bundled],
    )


def webhook_schema() -> dict[str, Any]:
    """The JSON Schema of `WebhookPage` as docs/schemas/webhook-page.v1.json holds it."""
    schema = WebhookPage.model_json_schema(mode="serialization")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
