"""PURE: capacity planning — the weekly utilisation trend (least squares over daily means), the
date it crosses a threshold ("scaling needed by"), the API's capacity row and what its alert says."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.slo.alerts import Wanted

STABLE_PER_WEEK = 0.005  # under half a percentage point a week reads as "Stable"


@dataclass(frozen=True)
class Trend:
    slope_per_day: float  # fraction per day
    intercept: float  # fitted value at day 0 (the first point's day)
    origin: date

    @property
    def per_week(self) -> float:
        return self.slope_per_day * 7

    def value_on(self, day: date) -> float:
        return self.intercept + self.slope_per_day * (day - self.origin).days


def least_squares(points: list[tuple[date, float]]) -> Trend | None:
    """The line through daily (day, utilisation) points; None with fewer than two distinct days."""
    if len({d for d, _ in points}) < 2:
        return None
    origin = min(d for d, _ in points)
    xs = [(d - origin).days for d, _ in points]
    ys = [v for _, v in points]
    n = len(points)
    mean_x, mean_y = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    slope = sxy / sxx
    return Trend(slope_per_day=slope, intercept=mean_y - slope * mean_x, origin=origin)


def crossing_day(trend: Trend, *, threshold: float, today: date, current: float) -> date | None:
    """The first day the trend reaches `threshold`: `today` if the current value already does,
    None if the trend is flat or falling (it never will)."""
    if current >= threshold:
        return today
    if trend.slope_per_day <= 0:
        return None
    days = (threshold - trend.intercept) / trend.slope_per_day
    day = trend.origin + timedelta(days=math.ceil(round(days, 6)))  # 63.0000001 from float error is day 63
    return max(day, today)


def trend_text(per_week: float | None) -> str:
    """The dashboard's "Trend" column: Stable, +2%/week, -1%/week."""
    if per_week is None or abs(per_week) < STABLE_PER_WEEK:
        return "Stable"
    return f"{per_week * 100:+.0f}%/week" if abs(per_week) >= 0.01 else f"{per_week * 100:+.1f}%/week"


@dataclass(frozen=True)
class CapacityForecast:
    current: float
    per_week: float | None
    trend: str
    threshold: float
    scaling_needed_by: date | None
    alert: bool


def forecast(
    *, daily: list[tuple[date, float]], current: float, threshold: float, lead: timedelta, now: datetime,
) -> CapacityForecast:
    """The capacity row of one service and resource. `alert` when the crossing is within `lead`."""
    today = now.date()
    trend = least_squares(daily)
    per_week = trend.per_week if trend else None
    crossing = crossing_day(trend, threshold=threshold, today=today, current=current) if trend else (
        today if current >= threshold else None
    )
    alert = crossing is not None and crossing - today <= lead
    return CapacityForecast(current, per_week, trend_text(per_week), threshold, crossing, alert)


def capacity_status(*, service: str, resource: str, forecast: CapacityForecast, weeks: int, now: datetime) -> dict:
    """The capacity row of the API (`schemas.CapacityOut`), percentages rounded to 0.001."""
    f = forecast
    return {
        "service": service, "resource": resource, "current_percent": round(f.current * 100, 3),
        "trend_percent_per_week": round(f.per_week * 100, 3) if f.per_week is not None else None,
        "trend": f.trend, "threshold_percent": round(f.threshold * 100, 3), "scaling_needed_by": f.scaling_needed_by,
        "headroom_percent": round((f.threshold - f.current) * 100, 3), "alert": f.alert,
        "weeks": weeks, "evaluated_at": now,
    }


def capacity_alert(status: dict) -> Wanted:
    """What the capacity alert of a row that alerts says: the threshold, when, the current value and trend."""
    return Wanted(
        service=status["service"], subject=status["resource"], tier="capacity",
        summary=f"{status['service']} {status['resource']} reaches {status['threshold_percent']:g}% by {status['scaling_needed_by']}",
        description=f"current {status['current_percent']:.1f}%, trend {status['trend']}",
    )
