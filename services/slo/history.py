"""PURE: an SLO's daily history and the burn-down of the calendar month's budget, from hour rows."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from services.slo.budget import Counts, error_budget
from services.slo.definitions import SloDefinition
from services.slo.windows import Window, calendar_month, local_days


def good_total(definition: SloDefinition, row: dict) -> tuple[int, int]:
    if definition.indicator == "latency_under":
        latency = row["latency"] or {}
        return int(latency.get(definition.threshold_key, 0)), int(latency.get("+Inf", 0))
    return row["requests"] - row["errors"], row["requests"]


def daily_history(
    *, definition: SloDefinition, hours: list[dict], bad_minutes_by_hour: dict[datetime, int], start: datetime,
    now: datetime, zone: str,
) -> list[dict]:
    """One row per local day from `start` to `now`: events, SLI, and the month's budget consumed and
    remaining at the end of the day (the budget restarts with each calendar month)."""
    tz = ZoneInfo(zone)
    days = local_days(start, now, zone)
    out: list[dict] = []
    month_key, cum = None, Counts()
    for begin, end in days:
        good = total = bad = 0
        for row in hours:
            if begin <= row["hour"] < end:
                g, t = good_total(definition, row)
                good, total = good + g, total + t
        bad = sum(v for h, v in bad_minutes_by_hour.items() if begin <= h < end)
        local_day: date = begin.astimezone(tz).date()
        if (local_day.year, local_day.month) != month_key:
            month_key, cum = (local_day.year, local_day.month), Counts()
        cum = Counts(good=cum.good + good, total=cum.total + total, bad_minutes=cum.bad_minutes + bad)
        month: Window = calendar_month(begin, zone)
        budget = error_budget(target=definition.target, counts=cum, window=month, budgeting=definition.budgeting)
        day_minutes = (min(end, now) - begin).total_seconds() / 60
        if definition.budgeting == "timeslices":
            sli = (1 - bad / day_minutes) if total and day_minutes else None
        else:
            sli = good / total if total else None
        out.append({
            "day": local_day, "good_events": good, "total_events": total,
            "bad_minutes": bad if definition.budgeting == "timeslices" else None,
            "sli_percent": round(sli * 100, 6) if sli is not None else None,
            "budget_consumed_minutes": round(budget.consumed_minutes, 4),
            "budget_remaining_percent": round(budget.remaining_fraction * 100, 4),
        })
    return out


def month_days(now: datetime, zone: str) -> int:
    month = calendar_month(now, zone)
    return len(local_days(month.start, month.end, zone))


