"""PURE: what each SEV means, as the operations process defines it (2.2 severity definitions, 1.3
response times and escalation) — one table that the API (`GET /api/v1/severities`), the console's
severity choices and docs/operations.md all show, so a person picking a SEV reads the same words
everywhere."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from services.incidents.severity import LEVEL_OF_SEV, RESPONSE_TARGETS
from shared.business_calendar import BusinessCalendar

_DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True)
class SeverityDefinition:
    severity: int
    label: str  # SEV1
    level: str  # the alert level that maps to it by default (critical … low)
    definition: str  # 2.2 "Definition"
    examples: tuple[str, ...]  # 2.2 "Examples"
    response_time: str  # 1.3 "Response Time", as people say it
    response_target_s: int | None  # the same in seconds; None: next business day (business calendar)
    escalation: str  # 1.3 "Escalation": how Vigil reaches someone by default

    def as_dict(self) -> dict:
        return {**asdict(self), "examples": list(self.examples)}

    @property
    def help_text(self) -> str:
        """One line for a form: `Major impact, most users affected (e.g. core feature broken) — respond within 15 minutes; page if not ack'd`."""
        examples = ", ".join(self.examples).lower()
        return f"{self.definition} (e.g. {examples}) — respond within {self.response_time}; {self.escalation.lower()}"


def _target_s(severity: int) -> int | None:
    target = RESPONSE_TARGETS.get(severity)
    return int(target.total_seconds()) if target is not None else None


SEVERITIES: tuple[SeverityDefinition, ...] = (
    SeverityDefinition(1, "SEV1", LEVEL_OF_SEV[1], "Complete outage, all users affected", ("Site down", "Data loss"),
                       "5 minutes", _target_s(1), "Immediate page"),
    SeverityDefinition(2, "SEV2", LEVEL_OF_SEV[2], "Major impact, most users affected", ("Core feature broken",),
                       "15 minutes", _target_s(2), "Page if not ack'd"),
    SeverityDefinition(3, "SEV3", LEVEL_OF_SEV[3], "Moderate impact, some users affected", ("Feature degraded",),
                       "1 hour", _target_s(3), "Ticket"),
    SeverityDefinition(4, "SEV4", LEVEL_OF_SEV[4], "Minor impact, few users affected", ("Non-critical bug",),
                       "the next business day", _target_s(4), "Ticket"),
)
BY_SEVERITY: dict[int, SeverityDefinition] = {d.severity: d for d in SEVERITIES}


def response_due(definition: SeverityDefinition, calendar: BusinessCalendar) -> str:
    """When an acknowledgement of this SEV is due, in words, with the business calendar in force."""
    if definition.response_target_s is not None:
        return f"{definition.response_time} after detection"
    days = ", ".join(_DAY_NAMES[d][:3] for d in calendar.weekdays)
    holidays = f"; {calendar.country}{'-' + calendar.subdivision if calendar.subdivision else ''} public holidays skipped" \
        if calendar.country else "; no public holidays configured"
    return (f"close of business ({calendar.closes:%H:%M} {calendar.zone}) on the next business day "
            f"(business hours {calendar.opens:%H:%M}-{calendar.closes:%H:%M} {days}{holidays})")


def severity_table(calendar: BusinessCalendar) -> list[dict]:
    """The table as the API gives it."""
    return [{**d.as_dict(), "response_due": response_due(d, calendar), "help_text": d.help_text} for d in SEVERITIES]
