"""PURE: the error-budget burn-down chart as a small, self-contained SVG (no plotting library)."""

from __future__ import annotations

from datetime import date
from html import escape

WIDTH, HEIGHT, PAD = 640, 300, 48


def burn_down_svg(*, title: str, days: list[tuple[date, float]], ideal_days: int) -> str:
    """Remaining budget in % at the end of each day (a falling line), against the even-burn line
    from 100 % on day one to 0 % on the window's last day. Negative values (overspent) clip at -20."""
    low = min([-20.0 if any(v < 0 for _, v in days) else 0.0])
    high = 100.0
    span_x = max(ideal_days - 1, 1)

    def x(i: float) -> float:
        return PAD + (WIDTH - 2 * PAD) * i / span_x

    def y(v: float) -> float:
        v = max(min(v, high), low)
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * (v - low) / (high - low)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'font-family="sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{PAD}" y="24" font-size="14">{escape(title)}</text>',
    ]
    for level in (0, 25, 50, 75, 100):
        parts.append(f'<line x1="{PAD}" y1="{y(level):.1f}" x2="{WIDTH - PAD}" y2="{y(level):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{PAD - 6}" y="{y(level) + 4:.1f}" text-anchor="end">{level}%</text>')
    parts.append(
        f'<line x1="{x(0):.1f}" y1="{y(100):.1f}" x2="{x(span_x):.1f}" y2="{y(0):.1f}" stroke="#999" stroke-dasharray="4 4"/>'
    )
    if days:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, (_, v) in enumerate(days))
        parts.append(f'<polyline points="{points}" fill="none" stroke="#c0392b" stroke-width="2"/>')
        first, last = days[0][0], days[-1][0]
        parts.append(f'<text x="{PAD}" y="{HEIGHT - PAD + 18}">{first.isoformat()}</text>')
        parts.append(
            f'<text x="{x(len(days) - 1):.1f}" y="{HEIGHT - PAD + 18}" text-anchor="end">{last.isoformat()}: {days[-1][1]:.1f}% left</text>'
        )
    else:
        parts.append(f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no data yet</text>')
    parts.append("</svg>")
    return "\n".join(parts)
