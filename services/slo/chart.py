"""PURE: the error-budget burn-down chart as a small, self-contained SVG (no plotting library).

The console shows it as an <img> on a light or a dark page, so it has no background of its own and
takes its colours from a <style> whose `@media (prefers-color-scheme: dark)` follows the page (the
attributes are the light colours, for viewers without CSS). Labels are placed by `chart_labels`, a
pure layout with estimated text boxes, so that no two of them overlap whatever day of the month it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from html import escape
from typing import Literal

WIDTH, HEIGHT, PAD = 640, 300, 48
FONT_PX = 12
# A generous average advance of a sans-serif glyph (digits, '-', '%' are ~0.55 em): boxes are
# estimated, never measured, so they err on the wide side.
CHAR_EM = 0.62
DATE_ROW = HEIGHT - PAD + 18  # the window's first and last day, under the axis
TODAY_ROW = HEIGHT - PAD + 36  # the latest day's value, under them: it never meets the dates

LIGHT = {"text": "#1b1b1f", "grid": "#d6d6de", "ideal": "#5b5b66", "burn": "#b3261e"}
DARK = {"text": "#e6e6eb", "grid": "#3a3b42", "ideal": "#a5a5b0", "burn": "#f2b8b5"}  # the console's dark palette


@dataclass(frozen=True)
class Label:
    text: str
    x: float
    y: float  # the baseline
    anchor: Literal["start", "middle", "end"] = "start"
    size: int = FONT_PX

    def box(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) the text covers, estimated from its length."""
        width = len(self.text) * CHAR_EM * self.size
        left = {"start": self.x, "middle": self.x - width / 2, "end": self.x - width}[self.anchor]
        return left, self.y - 0.8 * self.size, left + width, self.y + 0.25 * self.size


def overlap(a: Label, b: Label) -> bool:
    al, at, ar, ab = a.box()
    bl, bt, br, bb = b.box()
    return al < br and bl < ar and at < bb and bt < ab


@dataclass(frozen=True)
class Scale:
    span_x: int  # days from the window's first to its last
    low: float  # the lowest remaining budget shown (-20 once overspent)
    high: float = 100.0

    def x(self, i: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / self.span_x

    def y(self, v: float) -> float:
        v = max(min(v, self.high), self.low)
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - self.low) / (self.high - self.low)


def scale_of(days: list[tuple[date, float]], ideal_days: int) -> Scale:
    return Scale(span_x=max(ideal_days - 1, 1), low=-20.0 if any(v < 0 for _, v in days) else 0.0)


def chart_labels(*, title: str, days: list[tuple[date, float]], ideal_days: int) -> list[Label]:
    """Every text of the chart: the title, the y axis' levels, the window's first and last day at
    the two ends of the x axis, and the latest day's value on its own row, centred under its point
    but kept inside the plot."""
    scale = scale_of(days, ideal_days)
    labels = [Label(title, PAD, 24, size=14)]
    labels += [Label(f"{level}%", PAD - 6, scale.y(level) + 4, "end") for level in (0, 25, 50, 75, 100)]
    if not days:
        return [*labels, Label("no data yet", WIDTH / 2, HEIGHT / 2, "middle")]
    first = days[0][0]
    labels.append(Label(first.isoformat(), scale.x(0), DATE_ROW, "start"))
    labels.append(Label((first + timedelta(days=scale.span_x)).isoformat(), scale.x(scale.span_x), DATE_ROW, "end"))
    latest_day, latest_value = days[-1]
    today = Label(f"{latest_day.isoformat()}: {latest_value:.1f}% left", 0, TODAY_ROW)
    width = today.box()[2]
    point_x = scale.x((latest_day - first).days)
    left = min(max(point_x - width / 2, PAD), WIDTH - PAD - width)
    return [*labels, Label(today.text, left, TODAY_ROW, "start")]


# class -> (property, colour key)
RULES = {"text": ("fill", "text"), "grid": ("stroke", "grid"), "ideal": ("stroke", "ideal"), "burn": ("stroke", "burn"),
         "dot": ("fill", "burn")}


def _css(colours: dict[str, str]) -> str:
    return "".join(f".{cls}{{{prop}:{colours[key]}}}" for cls, (prop, key) in RULES.items())


STYLE = f"<style>{_css(LIGHT)}@media (prefers-color-scheme: dark){{{_css(DARK)}}}</style>"


def burn_down_svg(*, title: str, days: list[tuple[date, float]], ideal_days: int) -> str:
    """Remaining budget in % at the end of each day since the window's first day (`days[0]`), a
    falling line, against the even-burn line from 100 % on day one to 0 % on the window's last day.
    Negative values (overspent) clip at -20."""
    scale = scale_of(days, ideal_days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'font-family="sans-serif" font-size="{FONT_PX}">',
        f"<title>{escape(title)}</title>",
        STYLE,
    ]
    for level in (0, 25, 50, 75, 100):
        y = f"{scale.y(level):.1f}"
        parts.append(f'<line class="grid" x1="{PAD}" y1="{y}" x2="{WIDTH - PAD}" y2="{y}" stroke="{LIGHT["grid"]}"/>')
    parts.append(
        f'<line class="ideal" x1="{scale.x(0):.1f}" y1="{scale.y(100):.1f}" x2="{scale.x(scale.span_x):.1f}" '
        f'y2="{scale.y(0):.1f}" stroke="{LIGHT["ideal"]}" stroke-dasharray="4 4"/>'
    )
    if days:
        first = days[0][0]
        xy = [(scale.x((d - first).days), scale.y(v)) for d, v in days]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
        parts.append(f'<polyline class="burn" points="{points}" fill="none" stroke="{LIGHT["burn"]}" stroke-width="2"/>')
        parts.append(f'<circle class="dot" cx="{xy[-1][0]:.1f}" cy="{xy[-1][1]:.1f}" r="3" fill="{LIGHT["burn"]}"/>')
    for label in chart_labels(title=title, days=days, ideal_days=ideal_days):
        size = f' font-size="{label.size}"' if label.size != FONT_PX else ""
        anchor = f' text-anchor="{label.anchor}"' if label.anchor != "start" else ""
        parts.append(f'<text class="text" x="{label.x:.1f}" y="{label.y:.1f}"{anchor}{size} fill="{LIGHT["text"]}">'
                     f"{escape(label.text)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)
