"""PURE: from an alert's `severity` label to the operations process's levels, SEV1–SEV4 and the
response targets (operations process 1.3)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

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



def response_deadline(severity: int, detected_at: datetime) -> datetime:
    """When a response (acknowledgement) is due. SEV4 is due at the end of the next weekday (UTC)
    after detection; the escalator applies the configured business hours and holidays to tickets."""
    if severity in RESPONSE_TARGETS:
        return detected_at + RESPONSE_TARGETS[severity]
    day = detected_at.date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=detected_at.tzinfo)
