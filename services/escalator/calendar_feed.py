"""PURE: on-call shifts as an iCalendar feed (RFC 5545) that calendar apps subscribe to. Event
UIDs are stable (schedule, tier, shift number or override), so a refreshed feed updates events in
place instead of duplicating them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from icalendar import Calendar, Event

from services.escalator.rotation import Shift


@dataclass(frozen=True)
class FeedShift:
    schedule: str
    tier: str
    shift: Shift


# RFC 5545 text holds no control characters, and icalendar refuses a line break in some properties
# (X-WR-CALNAME) with an AssertionError. Names come from requests (a person in the URL, an
# override's person): each control character is replaced.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def text(value: str) -> str:
    return CONTROL.sub("\ufffd", value)


def uid(item: FeedShift) -> str:
    s = item.shift
    which = f"shift-{s.number}" if s.number is not None else f"override-{int(s.start_at.timestamp())}-{s.person}"
    return text(f"{item.schedule}-{item.tier}-{which}-{int(s.start_at.timestamp())}@vigil")


def feed(name: str, items: Iterable[FeedShift], *, now: datetime) -> bytes:
    """A VCALENDAR named `name` with one VEVENT per shift, times in UTC."""
    cal = Calendar()
    cal.add("prodid", "-//Vigil//on-call//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", text(name))
    for item in items:
        s = item.shift
        event = Event()
        event.add("uid", uid(item))
        event.add("dtstamp", now)
        event.add("dtstart", s.start_at)
        event.add("dtend", s.end_at)
        kind = "override" if s.number is None else "on call"
        event.add("summary", text(f"{s.person} {kind}: {item.schedule} {item.tier}"))
        event.add("description", text(f"{s.person} is {item.tier} on-call for schedule {item.schedule}."))
        cal.add_component(event)
    return cal.to_ical()
