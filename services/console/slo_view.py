"""PURE: what the SLO pages show, from the SLO service's answers — each SLO's state (ok, burning,
exhausted, no data) and the order worst first, budgets in minutes, burn rates against their
thresholds, capacity crossings in words, the burn-down chart's alt text, the example that shows how
to send metrics, and whether an SVG from the SLO service is only a picture. No I/O; `now` is passed in."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime

from services.console.rendering import instant

STATES = ("exhausted", "burning", "no_data", "ok")  # worst first
STATE_LABELS = {"exhausted": "Budget exhausted", "burning": "Burning", "no_data": "No data", "ok": "OK"}
FIRING_LABELS = {"page": "Page: fast burn", "ticket": "Ticket: slow burn", "exhausted": "Budget exhausted"}
WINDOW_LABELS = {"rolling_30d": "rolling 30 days", "calendar_month": "calendar month"}
# What an image of a chart may carry: shapes and text, nothing that runs, loads or embeds.
SVG_ELEMENTS = frozenset({"svg", "g", "title", "desc", "rect", "line", "polyline", "polygon", "path", "circle",
                          "ellipse", "text", "tspan", "defs", "clipPath", "linearGradient", "stop", "style"})
SVG_NS = "{http://www.w3.org/2000/svg}"


def state_of(slo: dict) -> str:
    """exhausted: the rolling budget is spent; burning: a burn-rate alert fires, or both windows of a
    rule are at its threshold (even when the low-traffic guard holds the alert back); no data: no
    events in the 30 days; else ok."""
    budget = slo.get("budget") or {}
    if not budget.get("total_events"):
        return "no_data"
    if budget.get("remaining_percent", 100) <= 0 or "exhausted" in slo.get("firing", ()):
        return "exhausted"
    if {"page", "ticket"} & set(slo.get("firing", ())) or any(rule_state(r) in ("firing", "guarded")
                                                              for r in slo.get("burn_rates") or ()):
        return "burning"
    return "ok"


def worst_first(slos: list[dict]) -> list[dict]:
    """By state (exhausted, burning, no data, ok), then the least budget left, then service and name."""
    return sorted(slos, key=lambda s: (STATES.index(state_of(s)), (s.get("budget") or {}).get("remaining_percent", 100),
                                       s.get("service", ""), s.get("slo", "")))


def count_states(slos: list[dict]) -> dict[str, int]:
    """How many SLOs are in each state."""
    counts: dict[str, int] = {}
    for s in slos:
        counts[state_of(s)] = counts.get(state_of(s), 0) + 1
    return counts


def rule_state(rule: dict) -> str:
    """One burn-rate rule: firing; guarded (both windows at the threshold, held back by the
    low-traffic guard); over (one window at it); under."""
    if rule.get("firing"):
        return "firing"
    threshold = rule["threshold"]
    over = [rule["long_burn"] >= threshold, rule["short_burn"] >= threshold]
    if all(over) and rule.get("low_traffic_guarded"):
        return "guarded"
    return "over" if any(over) else "under"


def burn_text(rate: float | None) -> str:
    """A burn-rate factor: 0×, 0.25×, 14.4×, 120×."""
    if rate is None:
        return "—"
    if rate == 0:
        return "0×"
    return f"{rate:.2g}×" if rate < 10 else f"{rate:.3g}×" if rate < 100 else f"{rate:.0f}×"


def minutes_text(minutes: float | None) -> str:
    """A budget in minutes as a responder reads it: 43.2 min, 7 h 12 min, 2 d 3 h; overspent is
    negative (−3.5 min)."""
    if minutes is None:
        return "—"
    sign = "−" if minutes < 0 else ""
    m = abs(minutes)
    if round(m, 1) < 60:
        return f"{sign}{m:.1f} min".replace(".0 min", " min")
    whole = int(round(m))
    days, hours, rest = whole // 1440, whole % 1440 // 60, whole % 60
    if days:
        return f"{sign}{days} d {hours} h" if hours else f"{sign}{days} d"
    return f"{sign}{hours} h {rest} min" if rest else f"{sign}{hours} h"


def remaining_text(minutes: float | None) -> str:
    """What is left of a budget: "13.2 min left", or "overspent by 1 h 5 min"."""
    if minutes is not None and minutes < 0:
        return f"overspent by {minutes_text(-minutes)}"
    return f"{minutes_text(minutes)} left"


def percent_text(value: float | None) -> str:
    """A percentage with one decimal: 50.0 %, 100 %, −12.5 %."""
    if value is None:
        return "—"
    text = f"{value:.1f}".replace("-", "−")
    return ("100" if text == "100.0" else text) + " %"


def budget_meaning(objective: str, budget: dict) -> str:
    """What a budget is, in a sentence: "99.9% over the rolling 30 days allows 43.2 min of bad time"."""
    return f"{objective} over the {WINDOW_LABELS.get(budget.get('window', ''), 'window')} allows " \
           f"{minutes_text(budget.get('total_minutes'))} of errors"


def burn_down_alt(detail: dict, history_days: list[dict], now: datetime) -> str:
    """The burn-down chart in words, for those who cannot see it."""
    month = detail.get("calendar_month") or {}
    start, end = instant(month.get("start")), instant(month.get("end"))
    what = f"Error-budget burn-down of {detail.get('title', detail.get('slo', ''))} for {detail.get('service', '')}"
    if start is None or end is None or not history_days:
        return f"{what}: no data yet this month."
    elapsed = min(max((now - start) / (end - start), 0.0), 1.0)
    last = history_days[-1]
    return (f"{what}, {start.strftime('%B %Y')}: {percent_text(last.get('budget_remaining_percent'))} of the month's "
            f"budget left on {last.get('day')}; an even burn would leave {percent_text(100 * (1 - elapsed))}.")


def crossing_text(scaling_needed_by: str | date | None, today: date) -> str:
    """When a resource's trend crosses its threshold: never at this trend, already, or in n days."""
    if scaling_needed_by is None:
        return "not at this trend"
    when = scaling_needed_by if isinstance(scaling_needed_by, date) else date.fromisoformat(scaling_needed_by)
    days = (when - today).days
    if days <= 0:
        return f"already crossed ({when.isoformat()})"
    return f"in {days} day{'s' if days != 1 else ''} ({when.isoformat()})"


def capacity_soonest_first(items: list[dict]) -> list[dict]:
    """Alerting resources first, then the soonest crossing, then the least headroom."""
    return sorted(items, key=lambda c: (not c.get("alert"), c.get("scaling_needed_by") or "9999-12-31",
                                        c.get("headroom_percent", 0), c.get("service", ""), c.get("resource", "")))


def waiting_definitions(definitions: list[dict], slos: list[dict]) -> list[dict]:
    """Configured SLOs of a named service that has no evaluated row yet (its metrics never came)."""
    seen = {(s.get("service"), s.get("slo")) for s in slos}
    return [d for d in definitions if d.get("service") != "*" and (d["service"], d["name"]) not in seen]


def push_example(*, slo_url: str, service: str, now: datetime) -> str:
    """A curl line that sends one minute of a service's metrics to the SLO service."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0).isoformat().replace("+00:00", "Z")
    body = {"event_id": f"my-exporter:{service}:{minute}", "occurred_at": minute, "source": "my-exporter",
            "service": service, "interval_start": minute, "interval_s": 60, "requests": 1200, "errors": 3}
    return (f"curl -X POST {slo_url.rstrip('/')}/api/v1/metrics \\\n  -H \"Authorization: Bearer $VIGIL_TOKEN\" "
            f"-H 'Content-Type: application/json' \\\n  -d '{json.dumps(body)}'")


class UnsafeSvg(ValueError):
    """An SVG that carries more than a picture (a script, an event handler, a link out, a DOCTYPE)."""


def check_svg(content: bytes) -> None:
    """Raises UnsafeSvg unless `content` is an SVG of shapes and text only: elements from a short
    list, no `on…` attributes, no links but to the document itself, no DOCTYPE or entities."""
    lowered = content.lower()
    if b"<!doctype" in lowered or b"<!entity" in lowered:
        raise UnsafeSvg("a DOCTYPE or entity declaration")
    try:
        root = ET.fromstring(content)
    except ET.ParseError as exc:
        raise UnsafeSvg(f"not XML: {exc}") from None
    if root.tag != f"{SVG_NS}svg":
        raise UnsafeSvg(f"the root element is {root.tag}, not svg")
    for element in root.iter():
        if not element.tag.startswith(SVG_NS) or element.tag[len(SVG_NS):] not in SVG_ELEMENTS:
            raise UnsafeSvg(f"the element {element.tag}")
        css = (element.text or "").lower().replace(" ", "") if element.tag == f"{SVG_NS}style" else ""
        if "@" in css.replace("@media", "") or "url(" in css or "\\" in css:  # colours (light and dark), no loads
            raise UnsafeSvg("a style that loads something")
        for name, value in element.attrib.items():
            local = name.rsplit("}", 1)[-1].lower()
            if local.startswith("on"):
                raise UnsafeSvg(f"the event handler {local}")
            if local == "href" and not value.startswith("#"):
                raise UnsafeSvg("a link out of the picture")
            if "url(" in value.lower() and not value.replace(" ", "").lower().startswith("url(#"):
                raise UnsafeSvg("a reference out of the picture")
