"""PURE: from an alert's `severity` label to the operations process's levels, SEV1–SEV4 and the
response targets (operations process 1.3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from shared.business_calendar import BusinessCalendar

Level = Literal["critical", "high", "medium", "low"]

SEV_OF_LEVEL: dict[str, int] = {"critical": 1, "high": 2, "medium": 3, "low": 4}
LEVEL_OF_SEV: dict[int, str] = {v: k for k, v in SEV_OF_LEVEL.items()}

# Label value (lower-cased) -> level. Prometheus-style names map onto the process's four levels.
DEFAULT_LABEL_LEVELS: dict[str, str] = {
    "critical": "critical",
    "high": "high",
    "error": "high",
    "medium": "medium",
    "warning": "medium",
    "low": "low",
    "info": "low",
    "none": "low",
}
DEFAULT_LEVEL: Level = "high"  # missing or unknown severity: treat as high, never silently low

# Response time per SEV; SEV4 is "next business day", see `response_deadline`.
RESPONSE_TARGETS: dict[int, timedelta] = {1: timedelta(minutes=5), 2: timedelta(minutes=15), 3: timedelta(hours=1)}


def level_of(labels: dict[str, str], *, mapping: dict[str, str] | None = None, default: str = DEFAULT_LEVEL) -> str:
    value = labels.get("severity", "").strip().lower()
    return (mapping or DEFAULT_LABEL_LEVELS).get(value, default)



# Without a configured calendar: Monday to Friday, 09:00-17:00 UTC, no holidays (the escalator's
# default business hours too).
DEFAULT_CALENDAR = BusinessCalendar()


def response_deadline(severity: int, detected_at: datetime, calendar: BusinessCalendar = DEFAULT_CALENDAR) -> datetime:
    """When a response (acknowledgement) is due. SEV1-SEV3: detection plus the target. SEV4 ("next
    business day"): the close of business on the day the escalator's ticket for it falls due — the
    first opening of business hours after detection (`due_next_business_day`), in the calendar's zone
    with its weekends and holidays skipped. Detected on Friday evening or Saturday: Monday's closing
    (Tuesday's when Monday is a holiday); during Monday's hours: Tuesday's closing; before Monday's
    opening: Monday's closing."""
    if severity in RESPONSE_TARGETS:
        return detected_at + RESPONSE_TARGETS[severity]
    ticket_due = calendar.due_next_business_day(detected_at)
    hours = calendar.opening_hours(calendar.local_day(ticket_due))
    assert hours is not None, "due_next_business_day returns an opening of a business day"
    return hours[1]
