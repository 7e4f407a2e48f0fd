"""Markdown of the operations records: Jinja2 templates (`templates/*.md.j2`, following the
operations process's templates) rendered from the records' JSON. Times are shown in the report
zone; durations as people say them ("45 min", "1.5 hr").

Two durations of an incident, named the same way in every record: its *duration* runs from the first
alert's start (`started_at`, what users lived through) to resolved, and its *time to resolution* from
Vigil's detection (`detected_at`) to resolved (the MTTR of the reviews). The postmortem leads with the
first, the incident report and the reviews with the second; each names its base."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "N/A"
    if seconds < 60:
        return f"{round(seconds)} s"
    if seconds < 600:  # "1 min 17 s", not "1 min": short incidents are compared second by second
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    minutes = seconds / 60
    if minutes < 90:
        return f"{round(minutes)} min"
    hours = round(minutes / 60, 1)
    return f"{hours:g} hr"


def span_s(start: datetime | str | None, end: datetime | str | None) -> float | None:
    """Seconds from `start` to `end` (datetimes or ISO strings, as a record's JSON has them); None
    while either is unknown (an incident not resolved yet)."""
    if start is None or end is None:
        return None
    start, end = (datetime.fromisoformat(v) if isinstance(v, str) else v for v in (start, end))
    return (end - start).total_seconds()


def cell(value: object) -> str:
    """A Markdown table cell: no line breaks, pipes escaped, empty as a dash."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, list | tuple):
        value = ", ".join(str(v) for v in value)
    return str(value).replace("\r", " ").replace("\n", " ").replace("|", "\\|")


def percent(value: float | None) -> str:
    return "N/A" if value is None else f"{value:g}%"


def check(value: bool | None) -> str:
    return "x" if value else " "


@lru_cache(maxsize=8)
def _environment(zone: str) -> jinja2.Environment:
    tz = ZoneInfo(zone)

    def local(value: datetime | str | None) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.astimezone(tz)

    def hhmm(value):
        try:
            t = local(value)
        except ValueError:  # what a person wrote as the time ("TRUE", "T+5 min"), not an ISO time: a 500 before
            return cell(value)
        return t.strftime("%H:%M") if t else "—"

    def when(value):
        t = local(value)
        return t.strftime("%Y-%m-%d %H:%M %Z") if t else "—"

    def day(value):
        if value is None:
            return "—"
        if isinstance(value, date) and not isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, str) and len(value) == 10:
            return value
        return local(value).strftime("%Y-%m-%d")

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=False,  # Markdown, not HTML  # noqa: S701
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(hhmm=hhmm, when=when, day=day, duration=human_duration, span=span_s, cell=cell, percent=percent, check=check)
    return env


def render(template: str, context: dict, *, zone: str) -> str:
    """`template` is the name without `.md.j2` (postmortem, incident_report, daily_check, …)."""
    return _environment(zone).get_template(f"{template}.md.j2").render(**context)
