"""PURE: what the console's templates show — ages and durations in words, severity and status
labels, which links may be followed, where a form may send the browser back to. No I/O; `now` is
passed in."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode, urlsplit

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


def list_query(*, status: str, severities: list[int], text: str) -> str:
    """The query string of the incident list's filters, for links and the live refresh."""
    pairs: list[tuple[str, object]] = [("status", status)] + [("sev", s) for s in severities]
    if text:
        pairs.append(("q", text))
    return urlencode(pairs)
