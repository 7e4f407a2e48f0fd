"""PURE: the computations of the operations reports, from plain data with `now` passed in.

Periods are days, ISO weeks (Monday 00:00) and calendar months in the report zone, as half-open
UTC intervals [start, end). An incident belongs to the period it was detected in. MTTR is the mean
time from detection to resolve of the period's resolved incidents; MTTA the mean time from detection
to acknowledgement of its acknowledged ones; time to detection the mean time from the first alert's
start (`started_at`) to detection, of those whose start is known (not of an incident a person
declared without saying when it started); response-target attainment is
the share of incidents that met their SEV's target among those decided (lifecycle.durations:
acknowledged by the deadline = met, acknowledged late or not by a passed deadline = missed; still
within the target = not counted yet)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from statistics import fmean
from zoneinfo import ZoneInfo

from services.incidents.lifecycle import Incident, durations
from services.incidents.severity import DEFAULT_CALENDAR
from services.incidents.silences import matchers_text
from shared.business_calendar import BusinessCalendar

SEVS = (1, 2, 3, 4)
# Occurrences per month of a toil frequency, as the operations process counts them
# (weekly 30 min → 2 hr/month; daily 15 min → 7.5 hr/month).
PER_MONTH = {"daily": 30, "weekly": 4, "monthly": 1}


@dataclass(frozen=True)
class Period:
    kind: str  # day, week, month
    label: str  # 2026-12-01, 2026-W49, 2026-12
    start: datetime  # UTC
    end: datetime
    first_day: date  # local
    last_day: date

    def contains(self, t: datetime) -> bool:
        return self.start <= t < self.end


def _midnight(d: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(d, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def local_day(now: datetime, zone: str) -> date:
    return now.astimezone(ZoneInfo(zone)).date()


def day_period(d: date, zone: str) -> Period:
    tz = ZoneInfo(zone)
    return Period("day", d.isoformat(), _midnight(d, tz), _midnight(d + timedelta(days=1), tz), d, d)


def week_period(d: date, zone: str) -> Period:
    """The ISO week (Monday to Sunday, local) that contains `d`."""
    tz = ZoneInfo(zone)
    monday = d - timedelta(days=d.weekday())
    year, week, _ = monday.isocalendar()
    return Period("week", f"{year}-W{week:02d}", _midnight(monday, tz), _midnight(monday + timedelta(days=7), tz),
                  monday, monday + timedelta(days=6))


def month_period(year: int, month: int, zone: str) -> Period:
    tz = ZoneInfo(zone)
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return Period("month", f"{year}-{month:02d}", _midnight(first, tz), _midnight(following, tz), first,
                  following - timedelta(days=1))


def parse_month(text: str) -> tuple[int, int]:
    """`YYYY-MM` → (year, month); ValueError otherwise."""
    year, sep, month = text.partition("-")
    if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit() and 1 <= int(month) <= 12):
        raise ValueError(f"{text!r} is not YYYY-MM")
    return int(year), int(month)


@dataclass(frozen=True)
class SevSummary:
    severity: int
    count: int
    resolved: int
    mttr_s: float | None
    target_met: int
    target_missed: int
    target_pending: int
    acknowledged: int = 0
    mtta_s: float | None = None
    detection_measured: int = 0  # incidents whose start is known, the base of `mttd_s`
    mttd_s: float | None = None

    @property
    def attainment_percent(self) -> float | None:
        decided = self.target_met + self.target_missed
        return round(100 * self.target_met / decided, 1) if decided else None

    def as_dict(self) -> dict:
        return {
            "severity": self.severity, "label": f"SEV{self.severity}", "count": self.count, "resolved": self.resolved,
            "mttr_s": self.mttr_s, "target_met": self.target_met, "target_missed": self.target_missed,
            "target_pending": self.target_pending, "attainment_percent": self.attainment_percent,
            "acknowledged": self.acknowledged, "mtta_s": self.mtta_s, "detection_measured": self.detection_measured,
            "mttd_s": self.mttd_s,
        }


def incidents_in(incidents: list[Incident], period: Period) -> list[Incident]:
    return [i for i in incidents if period.contains(i.detected_at)]


def _mean_s(spans: list[timedelta]) -> float | None:
    return round(fmean(t.total_seconds() for t in spans), 1) if spans else None


def severity_summary(incidents: list[Incident], *, now: datetime, calendar: BusinessCalendar = DEFAULT_CALENDAR,
                     start_unknown: frozenset[int] = frozenset()) -> list[SevSummary]:
    """Count, MTTR, MTTA, time to detection and response-target attainment per SEV (every SEV, also
    without incidents; a mean is None without an incident that has the figure). `start_unknown`:
    ids of incidents whose start nobody knows (declared without `started_at`), left out of the time
    to detection. `calendar`: the business calendar of the SEV4 deadline."""
    rows = []
    for sev in SEVS:
        mine = [i for i in incidents if i.severity == sev]
        derived = [durations(i, now=now, calendar=calendar) for i in mine]
        resolve_times = [d.time_to_resolve for d in derived if d.time_to_resolve is not None]
        ack_times = [d.time_to_acknowledge for d in derived if d.time_to_acknowledge is not None]
        detect_times = [d.time_to_detect for i, d in zip(mine, derived, strict=True)
                        if d.time_to_detect is not None and i.id not in start_unknown]
        rows.append(SevSummary(
            severity=sev, count=len(mine), resolved=len(resolve_times), mttr_s=_mean_s(resolve_times),
            target_met=sum(d.response_target_met is True for d in derived),
            target_missed=sum(d.response_target_met is False for d in derived),
            target_pending=sum(d.response_target_met is None for d in derived),
            acknowledged=len(ack_times), mtta_s=_mean_s(ack_times),
            detection_measured=len(detect_times), mttd_s=_mean_s(detect_times),
        ))
    return rows


def overall_attainment(rows: list[SevSummary]) -> float | None:
    met, missed = sum(r.target_met for r in rows), sum(r.target_missed for r in rows)
    return round(100 * met / (met + missed), 1) if met + missed else None


def incident_rows(incidents: list[Incident], *, titles: dict[int, str], noise: set[int], now: datetime,
                  calendar: BusinessCalendar = DEFAULT_CALENDAR) -> list[dict]:
    """The incidents table: id, severity, duration (to resolve, or open so far), status, noise."""
    out = []
    for i in sorted(incidents, key=lambda i: (i.detected_at, i.id)):
        end = i.resolved_at or now
        out.append({
            "id": i.id, "number": f"INC-{i.id}", "title": titles.get(i.id, ""), "severity": i.severity,
            "status": i.status, "duration_s": (end - i.detected_at).total_seconds(), "open": i.resolved_at is None,
            "noise": i.id in noise,
            "response_target_met": durations(i, now=now, calendar=calendar).response_target_met,
        })
    return out


def alert_counts(alert_noise: list[bool]) -> dict:
    """Alerts of a period, one entry per alert (True: its incident was marked as noise)."""
    false_positive = sum(alert_noise)
    return {"total": len(alert_noise), "actionable": len(alert_noise) - false_positive, "false_positive": false_positive}


def carried_over(items: list[dict], period: Period, *, today: date) -> list[dict]:
    """Open action items at the end of the period: those from before it carry over, the rest are
    new; each says whether it is overdue."""
    rows = []
    for item in sorted(items, key=lambda i: (i["due_on"], i["id"])):
        if item["created_at"] >= period.end or item["status"] not in ("open", "in_progress"):
            continue
        rows.append({**item, "carried_over": item["created_at"] < period.start, "overdue": item["due_on"] < today})
    return rows


def silencing_summary(*, silences: list[dict], alerts_by_silence: dict[int, int], windows: list[dict],
                      period: Period) -> dict:
    """The review's "Silences and maintenance": every silence created in the period or that
    suppressed alerts in it (alerts that started firing in the period), and the maintenance windows
    whose scope suppressed incidents detected in it (with those incidents' alerts)."""
    rows = [{**s, "matchers_text": matchers_text(s["matchers"]), "created_in_period": period.contains(s["created_at"]),
             "alerts": alerts_by_silence.get(s["id"], 0)} for s in sorted(silences, key=lambda s: s["id"])]
    return {
        "silences": rows,
        "silences_created": sum(r["created_in_period"] for r in rows),
        "alerts_silenced": sum(r["alerts"] for r in rows),
        "windows": windows,
        "incidents_suppressed": sum(w["incidents"] for w in windows),
        "alerts_in_suppressed_incidents": sum(w["alerts"] for w in windows),
    }


def runbook_rows(runbooks: list[dict], *, today: date, max_age_days: int) -> list[dict]:
    """Each runbook with `outdated` (never updated, updated more than `max_age_days` ago, or past
    its review date), why, and what to do."""
    rows = []
    for rb in sorted(runbooks, key=lambda r: r["name"]):
        reasons = []
        updated = rb.get("last_updated_on")
        if updated is None:
            reasons.append("never updated")
        elif (today - updated).days > max_age_days:
            reasons.append(f"updated {(today - updated).days} days ago (max {max_age_days})")
        if rb.get("next_review_on") and rb["next_review_on"] < today:
            reasons.append(f"review was due {rb['next_review_on'].isoformat()}")
        if rb.get("last_test_result") == "fail":
            reasons.append("last test failed")
        outdated = bool(reasons)
        rows.append({**rb, "outdated": outdated, "status": "Outdated" if outdated else "Current",
                     "reasons": reasons, "action": "Update" if outdated else "None"})
    return rows


def toil_rows(entries: list[dict]) -> list[dict]:
    rows = []
    for e in sorted(entries, key=lambda e: (e["month"], e["task"])):
        total = e["minutes_per_occurrence"] * PER_MONTH[e["frequency"]]
        savings = e.get("monthly_savings_minutes")
        rows.append({**e, "monthly_total_minutes": total, "monthly_savings_minutes": total if savings is None else savings})
    return rows


def toil_trend(rows: list[dict]) -> list[dict]:
    """Per month (oldest first): total toil and what automating it all would save, in minutes."""
    totals: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in rows:
        t = totals[r["month"]]
        t[0] += r["monthly_total_minutes"]
        t[1] += r["monthly_savings_minutes"]
        t[2] += 1
    return [{"month": m.strftime("%Y-%m"), "total_minutes": t[0], "savings_minutes": t[1], "tasks": t[2]} for m, t in sorted(totals.items())]


@dataclass(frozen=True)
class PeerResult:
    """What a peer API gave: state ok (with `data`), not_configured, or unreachable/error (with `error`)."""

    state: str
    data: object = None
    error: str | None = None


def slo_rows(slo: PeerResult) -> list[dict]:
    """The SLO table of the reviews from the SLO service's status list."""
    if slo.state != "ok":
        return []
    return [
        {"id": s.get("id"), "service": s.get("service"), "title": s.get("title") or s.get("slo"), "target": s.get("target"),
         "achieved": s.get("current"), "met": s.get("met"), "firing": list(s.get("firing") or []),
         "budget_remaining_percent": (s.get("budget") or {}).get("remaining_percent")}
        for s in (slo.data or {}).get("items", [])
    ]


def capacity_summary(capacity: PeerResult) -> dict:
    """Rows, the smallest headroom and the earliest date any resource needs scaling."""
    if capacity.state != "ok":
        return {"rows": [], "min_headroom_percent": None, "scaling_needed_by": None}
    rows = list((capacity.data or {}).get("items", []))
    dates = [r["scaling_needed_by"] for r in rows if r.get("scaling_needed_by")]
    headrooms = [r["headroom_percent"] for r in rows if r.get("headroom_percent") is not None]
    return {"rows": rows, "min_headroom_percent": min(headrooms) if headrooms else None,
            "scaling_needed_by": min(dates) if dates else None}


# --- the monthly review's growth figures and SLO chart

WEEKS_PER_MONTH = 365.25 / 12 / 7
SPARK = "▁▂▃▄▅▆▇█"
NO_DAY = "·"  # a day without data in a sparkline


def previous_month(period: Period, zone: str) -> Period:
    first = period.first_day - timedelta(days=1)
    return month_period(first.year, first.month, zone)


def month_over_month(current: dict[str, int], previous: dict[str, int]) -> list[dict]:
    """Each count of this month against the month before, with the change in percent (None when the
    month before had none: growth from nothing has no percentage)."""
    rows = []
    for what, now_count in current.items():
        before = previous.get(what, 0)
        change = round(100 * (now_count - before) / before, 1) if before else None
        rows.append({"what": what, "current": now_count, "previous": before, "change_percent": change})
    return rows


def capacity_growth(rows: list[dict]) -> list[dict]:
    """The capacity rows' weekly trend as growth per month (percentage points of utilisation), the
    fastest first; rows without a trend (fewer than two days of data) are left out."""
    grown = [{"service": r.get("service"), "resource": r.get("resource"), "current_percent": r.get("current_percent"),
              "growth_percent_per_month": round(r["trend_percent_per_week"] * WEEKS_PER_MONTH, 1)}
             for r in rows if r.get("trend_percent_per_week") is not None]
    return sorted(grown, key=lambda r: -r["growth_percent_per_month"])


def sparkline(values: list[float | None], *, top: float = 100.0) -> str:
    """One character per value from ▁ (0) to █ (`top`); `·` where there is no value."""
    def bar(v: float) -> str:
        share = min(max(v / top, 0.0), 1.0)
        return SPARK[round(share * (len(SPARK) - 1))]
    return "".join(NO_DAY if v is None else bar(v) for v in values)


def slo_month_chart(slo: PeerResult, histories: dict[str, PeerResult], period: Period) -> list[dict]:
    """Per SLO: its month — the SLI over the month's events, the budget left at the end of the last
    day with data, and the budget left day by day (1st to last) as a sparkline. Days are the SLO
    service's (its calendar zone), matched to the review's month by date."""
    if slo.state != "ok":
        return []
    days = [period.first_day + timedelta(days=n) for n in range((period.last_day - period.first_day).days + 1)]
    rows = []
    for s in (slo.data or {}).get("items", []):
        history = histories.get(s.get("id"), PeerResult("not_configured"))
        by_day = {d["day"]: d for d in (history.data or {}).get("days", [])} if history.state == "ok" else {}
        mine = [by_day[d.isoformat()] for d in days if d.isoformat() in by_day]
        good, total = sum(d["good_events"] for d in mine), sum(d["total_events"] for d in mine)
        if s.get("budgeting") == "timeslices":  # good minutes: each day weighs the same (1,440 minutes)
            slis = [d["sli_percent"] for d in mine if d.get("sli_percent") is not None]
            sli = round(fmean(slis), 3) if slis else None
        else:
            sli = round(100 * good / total, 3) if total else None
        budget = [by_day[d.isoformat()]["budget_remaining_percent"] if d.isoformat() in by_day else None for d in days]
        rows.append({
            "id": s.get("id"), "service": s.get("service"), "title": s.get("title") or s.get("slo"), "target": s.get("target"),
            "history": history.state, "error": history.error, "days_with_data": len(mine),
            "sli_percent": sli,
            "budget_left_percent": mine[-1]["budget_remaining_percent"] if mine else None,
            "budget_by_day": budget, "sparkline": sparkline(budget),
        })
    return rows
