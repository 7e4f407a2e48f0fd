"""What the command line's words mean: incident references, instants, durations, labels,
severities, SLO ids. Pure: `now` and the local zone are arguments; a bad word raises ValueError
with the sentence the user sees."""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import date, datetime, timedelta, tzinfo

INCIDENT = re.compile(r"^(?:INC-?)?(\d{1,18})$", re.IGNORECASE)
DURATION_PART = re.compile(r"(\d+)([wdhms])")
UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def incident_ref(text: str) -> str:
    """`INC-42`, `inc-42`, `INC42` or `42` → `INC-42`."""
    match = INCIDENT.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not an incident: INC-<n> or <n>, e.g. INC-42")
    return f"INC-{int(match.group(1))}"


def duration(text: str) -> timedelta:
    """`30m`, `8h`, `1h30m`, `2d`, `1w`."""
    compact = text.strip().lower().replace(" ", "")
    parts = DURATION_PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: e.g. 30m, 8h, 1h30m, 2d, 1w")
    return sum((timedelta(**{UNITS[unit]: int(n)}) for n, unit in parts), timedelta())


def instant(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """`now`; `+2h` / `-30m` from now; an ISO 8601 date-time, with an offset or `Z`, else in the
    local `zone`; a date alone is its local midnight."""
    word = text.strip()
    if word.lower() == "now":
        return now
    if word[:1] in "+-" and len(word) > 1:
        delta = duration(word[1:])
        return now + delta if word[0] == "+" else now - delta
    try:
        if len(word) == 10:
            day = date.fromisoformat(word)
            return datetime(day.year, day.month, day.day, tzinfo=zone)
        value = datetime.fromisoformat(word.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not a time: now, +2h, -30m, 2026-12-07, 2026-12-07T09:00 or 2026-12-07T09:00+01:00") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def label(pair: str) -> tuple[str, str]:
    """`service=checkout` → ("service", "checkout")."""
    name, sep, value = pair.partition("=")
    if not sep or not name.strip():
        raise ValueError(f"{pair!r} is not a label: name=value, e.g. service=checkout")
    return name.strip(), value


def severity(text: str) -> int:
    """`1`-`4`, `SEV1`-`SEV4` or `sev2`."""
    match = re.fullmatch(r"(?:sev)?([1-4])", text.strip(), re.IGNORECASE)
    if not match:
        raise ValueError(f"{text!r} is not a severity: 1-4 or SEV1-SEV4 (1 is the most severe)")
    return int(match.group(1))


def slo_id(first: str, second: str | None) -> tuple[str, str]:
    """`checkout:availability`, or `checkout availability` → (service, slo)."""
    if second:
        return first, second
    service, sep, slo = first.rpartition(":")
    if not sep or not service or not slo:
        raise ValueError(f"{first!r} is not an SLO: <service>:<slo>, e.g. checkout:availability (see `vigil slo list`)")
    return service, slo


def token_claims(token: str) -> dict | None:
    """What a personal token (`vgt_<payload>.<signature>`) says about itself, unverified: `p` the
    person, `r` the role, `i` its id, `x` its expiry (epoch seconds). None for a service account's token."""
    if not token.startswith("vgt_"):
        return None
    payload = token[4:].partition(".")[0]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, binascii.Error):
        return None
    return claims if isinstance(claims, dict) else None
