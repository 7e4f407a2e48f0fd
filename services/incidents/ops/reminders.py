"""PURE: the daily reminder digests (docs/operations.md "Reminders"): one message per person per
business day, never one per item. A person's digest gathers
- their action items overdue (due before today) and due by the next business day (so Friday's
  digest names what falls due over the weekend and on Monday);
- the postmortems still unpublished (draft or in review) `postmortem_after_days` days or more after
  their incident resolved, for the incident's commander (the postmortem's author when the incident
  had no commander);
- their runbooks whose next review date has come.
Someone with nothing due gets no digest. No digest at all on a day that is not a business day of the
schedule's calendar: what falls due then is in the next business day's digest (it is overdue by
then). Apart from the digest, an open incident's promised next update passing reminds its commander
at once (`UpdateDue`, ops/update_reminders.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from shared.business_calendar import BusinessCalendar
from shared.events import deterministic_id

DEFAULT_POSTMORTEM_AFTER_DAYS = 5
# How far ahead "the next business day" is searched: a calendar without one in a month is refused.
SEARCH_DAYS = 31


@dataclass(frozen=True)
class ActionItem:
    id: int
    title: str
    owner: str
    due_on: date
    incident_id: int | None = None


@dataclass(frozen=True)
class OpenPostmortem:
    """A postmortem not yet published, with the incident it is about."""

    incident_id: int
    incident_title: str
    resolved_at: datetime
    commander: str | None
    author: str | None = None


@dataclass(frozen=True)
class Runbook:
    name: str
    owner: str | None
    next_review_on: date | None


@dataclass(frozen=True)
class Digest:
    """What one person is reminded of on `day`."""

    person: str
    day: date
    overdue: tuple[ActionItem, ...] = ()
    due_soon: tuple[ActionItem, ...] = ()
    postmortems: tuple[OpenPostmortem, ...] = ()
    runbooks: tuple[Runbook, ...] = ()

    @property
    def event_id(self) -> str:
        """One digest per person per day: a replay or a second replica publishes nothing more."""
        return deterministic_id("reminder-digest", self.person, self.day.isoformat())


@dataclass
class _Gathered:
    overdue: list[ActionItem] = field(default_factory=list)
    due_soon: list[ActionItem] = field(default_factory=list)
    postmortems: list[OpenPostmortem] = field(default_factory=list)
    runbooks: list[Runbook] = field(default_factory=list)


def next_business_day(calendar: BusinessCalendar, day: date) -> date:
    """The first business day after `day`."""
    for offset in range(1, SEARCH_DAYS + 1):
        candidate = day + timedelta(days=offset)
        if calendar.is_business_day(candidate):
            return candidate
    raise ValueError(f"no business day in the {SEARCH_DAYS} days after {day.isoformat()}")


def postmortem_recipient(postmortem: OpenPostmortem) -> str | None:
    return postmortem.commander or postmortem.author


def digests(*, calendar: BusinessCalendar, day: date, now: datetime, action_items: list[ActionItem],
            postmortems: list[OpenPostmortem], runbooks: list[Runbook],
            postmortem_after_days: int = DEFAULT_POSTMORTEM_AFTER_DAYS) -> list[Digest]:
    """The digests of `day` (a local date of the calendar's zone), one per person with something due,
    ordered by person; nothing when `day` is not a business day. `action_items` are the open ones
    (open or in progress), `postmortems` the unpublished ones."""
    if not calendar.is_business_day(day):
        return []
    horizon = next_business_day(calendar, day)
    late_after = timedelta(days=postmortem_after_days)
    people: dict[str, _Gathered] = {}

    def gathered(person: str) -> _Gathered:
        return people.setdefault(person, _Gathered())

    for item in sorted(action_items, key=lambda i: (i.due_on, i.id)):
        if item.due_on < day:
            gathered(item.owner).overdue.append(item)
        elif item.due_on <= horizon:
            gathered(item.owner).due_soon.append(item)
    for postmortem in sorted(postmortems, key=lambda p: (p.resolved_at, p.incident_id)):
        person = postmortem_recipient(postmortem)
        if person and now - postmortem.resolved_at >= late_after:
            gathered(person).postmortems.append(postmortem)
    for runbook in sorted(runbooks, key=lambda r: r.name):
        if runbook.owner and runbook.next_review_on is not None and runbook.next_review_on <= day:
            gathered(runbook.owner).runbooks.append(runbook)
    return [Digest(person=person, day=day, overdue=tuple(g.overdue), due_soon=tuple(g.due_soon),
                   postmortems=tuple(g.postmortems), runbooks=tuple(g.runbooks))
            for person, g in sorted(people.items())]


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def digest_text(digest: Digest) -> tuple[str, str]:
    """(title, summary) of a digest, as the notifier's message says it."""
    sections = (
        (digest.overdue, "action item", "overdue", lambda i: f"{i.title} (due {i.due_on.isoformat()})"),
        (digest.due_soon, "action item", "due soon", lambda i: f"{i.title} (due {i.due_on.isoformat()})"),
        (digest.postmortems, "postmortem", "to publish", lambda p: f"INC-{p.incident_id} {p.incident_title}"),
        (digest.runbooks, "runbook", "to review", lambda r: f"{r.name} (review due {r.next_review_on.isoformat()})"),
    )
    parts = [f"{_plural(len(items), noun, noun + 's')} {what}: " + "; ".join(map(line, items))
             for items, noun, what, line in sections if items]
    return f"Reminders for {digest.person}, {digest.day.isoformat()}", ". ".join(parts) + "."


@dataclass(frozen=True)
class UpdateDue:
    """An open incident whose promised next status update (`next_update_at`) has passed."""

    incident_id: int
    title: str
    commander: str
    next_update_at: datetime

    @property
    def event_id(self) -> str:
        """Once per promised time: a new `next_update_at` is a new reminder, a replay is not."""
        return deterministic_id("update-reminder", str(self.incident_id), self.next_update_at.isoformat())


def update_due_text(due: UpdateDue, *, zone: str, now: datetime) -> tuple[str, str]:
    """(title, summary) of the reminder to the commander, with the promised time in the report zone."""
    promised = due.next_update_at.astimezone(ZoneInfo(zone))
    late_min = max(0, round((now - due.next_update_at).total_seconds() / 60))
    summary = (f"The next status update of INC-{due.incident_id} was promised for {promised:%Y-%m-%d %H:%M} {zone} "
               f"({late_min} min ago). Post an update with a new next-update time.")
    return f"Status update due: INC-{due.incident_id} {due.title}", summary
