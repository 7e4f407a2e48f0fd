"""PURE: what the console's templates show — ages and durations in words, severity and status
labels, which links may be followed, where a form may send the browser back to. No I/O; `now` is
passed in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

from services.console.markdown import NO_LINKS, VigilLinks, console_href

OPEN_STATUSES = ("investigating", "mitigating")
STATUSES = ("investigating", "mitigating", "resolved")
STATUS_LABELS = {"investigating": "Investigating", "mitigating": "Mitigating", "resolved": "Resolved"}
SEVERITY_NAMES = {1: "critical", 2: "high", 3: "medium", 4: "low"}
# Timeline kinds as the incident service writes them, in words (anything else shows as written).
TIMELINE_KINDS = {
    "opened": "Opened", "acknowledged": "Acknowledged", "unacknowledged": "Unacknowledged", "resolved": "Resolved",
    "reopened": "Reopened", "note": "Note", "status_changed": "Status", "severity_changed": "Severity",
    "commander_assigned": "Commander", "page": "Paged", "ticket": "Ticket", "delivery": "Delivery",
    "alert_attached": "Alert attached", "alert_firing": "Alert firing", "alert_resolved": "Alert resolved",
    "alerts_resolved": "Alerts resolved", "impact_updated": "Impact", "postmortem": "Postmortem",
    "action_item": "Action item", "noise": "Noise",
}


def instant(value: datetime | str | None) -> datetime | None:
    """A time as the services' JSON carries it (ISO 8601 with an offset), or already parsed."""
    if value is None or isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def ago(when: datetime | str | None, now: datetime) -> str:
    """`when` relative to now in the largest whole unit: "just now", "4 min ago", "3 h ago", "2 d ago"."""
    then = instant(when)
    if then is None:
        return ""
    seconds = (now - then).total_seconds()
    if seconds < 0:
        return "in " + duration(-seconds)
    if seconds < 45:
        return "just now"
    return duration(seconds) + " ago"


def duration(seconds: float | None) -> str:
    """A duration in its largest units: "40 s", "12 min", "3 h 5 min", "2 d 4 h"."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    minutes, hours, days = s // 60, s // 3600, s // 86400
    if hours == 0:
        return f"{minutes} min"
    if days == 0:
        rest = minutes - hours * 60
        return f"{hours} h {rest} min" if rest else f"{hours} h"
    rest = hours - days * 24
    return f"{days} d {rest} h" if rest else f"{days} d"


def time_left(when: datetime | str | None, now: datetime) -> str:
    """The response target's time left ("8 min left") or how far past it ("overdue by 3 min")."""
    due = instant(when)
    if due is None:
        return ""
    seconds = (due - now).total_seconds()
    return f"{duration(seconds)} left" if seconds >= 0 else f"overdue by {duration(-seconds)}"


def utc(value: datetime | str | None) -> str:
    at = instant(value)
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if at else ""


def severity_name(severity: int) -> str:
    return SEVERITY_NAMES.get(severity, "")


def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status)


def timeline_kind(kind: str) -> str:
    return TIMELINE_KINDS.get(kind, kind.replace("_", " ").capitalize())


def is_open(status: str) -> bool:
    return status in OPEN_STATUSES


def safe_url(url: object) -> str | None:
    """Only http(s) URLs become links (never `javascript:` or `data:` from an alert's annotations)."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def link_annotations(annotations: dict[str, str]) -> list[tuple[str, str]]:
    """The annotations that are links (runbook_url, dashboard, …), as (name, url)."""
    return [(name, url) for name, value in sorted(annotations.items()) if (url := safe_url(value))]


def local_path(target: object, default: str = "/incidents") -> str:
    """Where a form may send the browser back to: a path on this site, never another origin."""
    if not isinstance(target, str) or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in target):
        return default
    return target


def incident_ref(value: str) -> str | None:
    """`INC-42` or `42` → "42"; anything else → None (never sent to the incident service)."""
    text = value.strip().upper().removeprefix("INC-")
    return text if text.isdigit() and 0 < len(text) <= 18 and int(text) > 0 else None


def list_query(*, status: str, severities: list[int], text: str, labels: list[tuple[str, str]] = ()) -> str:
    """The query string of the incident list's filters, for links and the live refresh."""
    pairs: list[tuple[str, object]] = [("status", status)] + [("sev", s) for s in severities]
    if text:
        pairs.append(("q", text))
    pairs += [("label", f"{name}={value}") for name, value in labels]
    return urlencode(pairs)


RUNBOOK_HREF = re.compile(r"^/operations/runbooks/(\d+)$")
MAX_LABEL_FILTERS = 20  # what the incident service accepts at once
_LABEL_SPLIT = re.compile(r"[\s,]+")


def label_filters(raw: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The list's label filters as people type them — `service=checkout team=payments`, or just
    `checkout` for `service=checkout` — from one field or repeated `label` parameters: (the
    (name, value) pairs in order without repeats, the words that are not `name=value`)."""
    pairs: list[tuple[str, str]] = []
    problems: list[str] = []
    for word in (w for text in raw for w in _LABEL_SPLIT.split(text.strip()) if w):
        name, equals, value = word.partition("=")
        if not equals:
            name, value = "service", word
        if not name or not value or len(name) > 100 or len(value) > 300:
            problems.append(word[:60])
        elif (name, value) not in pairs:
            pairs.append((name, value))
    if len(pairs) > MAX_LABEL_FILTERS:
        problems.append(f"at most {MAX_LABEL_FILTERS} labels at once")
        pairs = pairs[:MAX_LABEL_FILTERS]
    return pairs, problems


def label_text(labels: list[tuple[str, str]]) -> str:
    """The label filters as the filter field shows them again."""
    return " ".join(f"{name}={value}" for name, value in labels)


@dataclass(frozen=True)
class Link:
    """A link an alert carries: `internal` ones open in the console, the others on their own site;
    no `url`: a runbook named that Vigil does not have (shown as text)."""

    label: str
    url: str
    internal: bool = False


def _words(name: str) -> str:
    """'runbook_url' -> 'Runbook', 'grafana_dashboard' -> 'Grafana dashboard'."""
    text = name.removesuffix("_url").removesuffix("URL").replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else name


def _runbook_named(text: str, links: VigilLinks) -> int | None:
    """The id of the Vigil runbook called `text` (any case), or None."""
    return next((rid for name, rid in links.runbook_names.items() if name.casefold() == text.casefold()), None)


def alert_links(annotations: dict[str, str], generator_url: str | None, links: VigilLinks = NO_LINKS) -> list[Link]:
    """An alert's links. One that points at a Vigil object — a runbook by its console or API path,
    its recorded document URL or (in a runbook annotation) its name; an incident; a postmortem —
    opens in the console (markdown.console_href, as in reports); other http(s) annotations and the
    generator (source graph) are external links; a runbook name Vigil does not have is said, not linked."""
    names = {rid: name for name, rid in links.runbook_names.items()}
    found: list[Link] = []
    for name, value in sorted(annotations.items()):
        text, is_runbook = value.strip(), "runbook" in name.lower()
        rid = _runbook_named(text, links) if is_runbook else None
        href = f"/operations/runbooks/{rid}" if rid is not None else console_href(text, links)
        if href is not None:
            runbook = RUNBOOK_HREF.match(href)
            label = f"Runbook {names.get(int(runbook.group(1)), '')}".strip() if runbook else _words(name)
            found.append(Link(label, href, internal=True))
        elif (url := safe_url(text)) is not None:
            found.append(Link(_words(name), url))
        elif is_runbook and text and ":" not in text:
            found.append(Link(f"Runbook {text[:100]} (not among Vigil's runbooks)", ""))
    if (source := safe_url(generator_url)) is not None:
        found.append(Link("Source graph", source))
    return found


def mentions_runbook(annotations: dict[str, str]) -> bool:
    """Whether an alert has a runbook annotation (so the page looks up Vigil's runbooks)."""
    return any("runbook" in name.lower() for name in annotations)


# What a pending escalation timer will do, in words.
TIMER_ACTIONS = {"page": "page the {role}", "notify": "notify the {role}", "ticket": "open a ticket",
                 "ack_check": "page the {role} again if the acknowledgement lapses"}


def pending_steps(escalation: dict, now: datetime) -> list[dict]:
    """The escalation's pending timers, soonest first: what each will do and when ("in 4 min",
    "due now") with the time in UTC."""
    steps = []
    for timer in sorted((t for t in escalation.get("timers", []) if t.get("state") == "pending"),
                        key=lambda t: str(t.get("due_at"))):
        due = instant(timer.get("due_at"))
        what = TIMER_ACTIONS.get(timer.get("action", ""), timer.get("action", "")).format(role=timer.get("role", ""))
        when = "due now" if due is None or due <= now else "in " + duration((due - now).total_seconds())
        steps.append({"what": what, "when": when, "at": utc(due), "reason": timer.get("reason", "")})
    return steps


def needs_postmortem(incident: dict, postmortem: dict | None, policy_sevs: list[int] | None) -> str | None:
    """What the incident page says about a postmortem: None (nothing to say), or a sentence."""
    if postmortem is not None:
        return f"Postmortem ({str(postmortem.get('status', 'draft')).replace('_', ' ')})"
    if not policy_sevs or incident.get("severity") not in policy_sevs:
        return None
    if incident.get("status") == "resolved":
        return "Postmortem needed: not written yet"
    return f"SEV{incident.get('severity')} gets a postmortem when it resolves"


KIND_NAMES = {"email": "E-mail", "webhook": "Webhook", "slack": "Slack", "apprise": "Apprise"}


def method_view(method: dict) -> dict:
    """A contact method as Me shows it: its name (its label, else its kind), and as much of its
    address as is safe to show — an e-mail address in full; only the host of a webhook or Slack URL
    and the scheme and last part of an Apprise URL (their paths and credentials are secrets)."""
    kind, address = method.get("kind", ""), str(method.get("address", ""))
    shown = address
    if kind in ("webhook", "slack"):
        shown = urlsplit(address).hostname or "a URL"
    elif kind != "email":
        scheme, _, rest = address.partition("://")
        target = rest.rstrip("/").rsplit("/", 1)[-1] if "/" in rest else ""
        shown = f"{scheme}://…/{target}" if target and "@" not in target and ":" not in target else f"{scheme}://…"
    name = method.get("label") or KIND_NAMES.get(kind, kind)
    return {"id": method.get("id", ""), "kind": kind, "name": name, "address": shown}


def rule_text(steps: list[dict], methods: list[dict], *, channel: str) -> str:
    """A notification rule in words: "Slack at once, then E-mail after 1 min". Empty rules are the
    notifier's defaults: a page goes to every method at once, a notification to the first."""
    named = {m["id"]: method_view(m)["name"] for m in methods}
    if not steps:
        if not methods:
            return "nothing: you have no contact method"
        if channel == "page":
            return "every method at once"
        return f"{method_view(methods[0])['name']} at once (the first method)"
    words = []
    for number, step in enumerate(steps):
        after = step.get("after_s", 0)
        when = "at once" if after == 0 else f"after {duration(after)}"
        words.append(("then " if number else "") + f"{named.get(step.get('method'), step.get('method'))} {when}")
    return ", ".join(words)


def test_outcome(delivery: dict) -> dict:
    """What a test message came to, as the notifier answered with its delivery."""
    state, method = delivery.get("state"), delivery.get("method", "")
    detail = delivery.get("answer") or delivery.get("last_error") or ""
    said = f": {detail}" if detail else ""
    if state == "sent":
        return {"ok": True, "text": f"Test message sent to {method}{said}. Check that it arrived."}
    if state == "failed":
        return {"ok": False, "text": f"The test message to {method} failed{said}."}
    return {"ok": False, "text": f"The test message to {method} is not delivered yet ({state}{said}); "
                                 "the notifier keeps trying."}
