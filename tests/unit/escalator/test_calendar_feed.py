"""The on-call iCalendar feed: one event per shift in UTC, UIDs stable across refreshes."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from icalendar import Calendar

from services.escalator.calendar_feed import FeedShift, feed
from services.escalator.rotation import Override, Rotation, effective_shifts

ROTATION = Rotation(name="ops/primary", participants=("alice", "bob"), zone="Europe/Berlin",
                    anchor_date=date(2026, 3, 23), handoff_time=time(9))
START, END = datetime(2026, 3, 23, tzinfo=UTC), datetime(2026, 4, 13, tzinfo=UTC)


def events(shifts, now):
    return Calendar.from_ical(feed("On call: ops", [FeedShift("ops", "primary", s) for s in shifts], now=now)).walk("VEVENT")


def test_each_shift_is_one_event_in_utc_across_the_dst_change():
    shifts = effective_shifts(ROTATION, [], start=START, end=END)
    found = events(shifts, now=START)
    assert [str(e["summary"]) for e in found] == [f"{s.person} on call: ops primary" for s in shifts]
    # Berlin moves to summer time on 2026-03-29: the 09:00 handoff is 08:00 UTC before, 07:00 UTC after.
    starts = [e.decoded("dtstart") for e in found]
    assert starts[0] == datetime(2026, 3, 23, 8, tzinfo=UTC) and starts[1] == datetime(2026, 3, 30, 7, tzinfo=UTC)
    assert all(e.decoded("dtend") - e.decoded("dtstart") >= timedelta(days=6, hours=23) for e in found)


def test_uids_are_stable_across_refreshes_and_unique():
    shifts = effective_shifts(ROTATION, [], start=START, end=END)
    first = [str(e["uid"]) for e in events(shifts, now=START)]
    later = [str(e["uid"]) for e in events(shifts, now=START + timedelta(days=2))]
    assert first == later and len(set(first)) == len(first)


def test_an_override_is_its_own_event():
    override = Override("erin", datetime(2026, 3, 25, 12, tzinfo=UTC), datetime(2026, 3, 25, 18, tzinfo=UTC),
                        created_at=START)
    found = events(effective_shifts(ROTATION, [override], start=START, end=END), now=START)
    erin = [e for e in found if str(e["summary"]).startswith("erin")]
    assert [str(e["summary"]) for e in erin] == ["erin override: ops primary"]
    assert erin[0].decoded("dtstart") == override.start_at and erin[0].decoded("dtend") == override.end_at
