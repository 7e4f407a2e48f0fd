"""The burn-down chart: labels that never overlap on any day of any month, and colours that follow
the page's light or dark scheme (it is shown as an <img>)."""

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest

from services.console.slo_view import UnsafeSvg, check_svg
from services.slo.chart import DARK, HEIGHT, LIGHT, WIDTH, Label, burn_down_svg, chart_labels, overlap

SVG = "{http://www.w3.org/2000/svg}"
TITLE = "Availability (99.9 %) of checkout: error budget, February 2026"


def month(first: date, days_so_far: int, *, value_of=lambda i: 100.0 - 3.3 * i) -> list[tuple[date, float]]:
    return [(first + timedelta(days=i), value_of(i)) for i in range(days_so_far)]


CASES = [(date(2026, m, 1), length, so_far)
         for m, length in ((2, 28), (2, 29), (4, 30), (12, 31))
         for so_far in range(1, length + 1)]


@pytest.mark.parametrize(("first", "length", "so_far"), CASES)
def test_no_two_labels_overlap_on_any_day_of_a_28_to_31_day_month(first, length, so_far):
    for values in (lambda i: 100.0 - 3.3 * i, lambda i: 100.0 - 9.7 * i):  # on budget; overspent (the -20 axis)
        labels = chart_labels(title=TITLE, days=month(first, so_far, value_of=values), ideal_days=length)
        for i, a in enumerate(labels):
            left, top, right, bottom = a.box()
            assert 0 <= left and right <= WIDTH and 0 <= top and bottom <= HEIGHT, a
            for b in labels[i + 1:]:
                assert not overlap(a, b), (a, b)


def test_the_axis_names_the_windows_first_and_last_day_and_the_latest_value_below():
    labels = {label.text: label for label in chart_labels(title=TITLE, days=month(date(2026, 12, 1), 2), ideal_days=31)}
    assert labels["2026-12-01"].box()[0] == pytest.approx(48)  # under the axis' start
    assert labels["2026-12-31"].box()[2] == pytest.approx(WIDTH - 48)  # under its end
    latest = labels["2026-12-02: 96.7% left"]
    assert latest.y > labels["2026-12-01"].y


def test_the_latest_value_stays_inside_the_plot_at_the_end_of_the_month():
    labels = chart_labels(title=TITLE, days=month(date(2026, 4, 1), 30), ideal_days=30)
    latest = next(label for label in labels if label.text.startswith("2026-04-30:"))
    assert latest.box()[2] <= WIDTH - 48


def test_overlap_is_of_boxes_not_of_anchors():
    assert overlap(Label("2026-12-01", 48, 100), Label("2026-12-02", 100, 100))  # 10 characters are wider than 52 px
    assert not overlap(Label("2026-12-01", 48, 100), Label("2026-12-02", 200, 100))
    assert not overlap(Label("2026-12-01", 48, 100), Label("2026-12-01", 48, 118))  # the next row


def test_the_chart_has_no_background_and_dark_colours_for_a_dark_page():
    svg = burn_down_svg(title=TITLE, days=month(date(2026, 12, 1), 5), ideal_days=31)
    root = ET.fromstring(svg)
    assert not root.findall(f"{SVG}rect")  # transparent: the page's own background shows
    (style,) = root.findall(f"{SVG}style")
    light, _, dark = style.text.partition("@media (prefers-color-scheme: dark)")
    assert f".text{{fill:{LIGHT['text']}}}" in light and f".text{{fill:{DARK['text']}}}" in dark
    for text in root.iter(f"{SVG}text"):  # every text takes its colour from the scheme's rule
        assert text.get("class") == "text" and text.get("fill") == LIGHT["text"]


def test_the_chart_is_a_picture_the_console_serves():
    check_svg(burn_down_svg(title="A <b> & c", days=month(date(2026, 12, 1), 3, value_of=lambda i: 99 - 60 * i),
                            ideal_days=31).encode())
    check_svg(burn_down_svg(title="empty", days=[], ideal_days=30).encode())


@pytest.mark.parametrize("css", ["@import 'https://x.example/a.css';", ".a{fill:url(https://x.example/p)}",
                                 ".a{fill:u\\72l(https://x.example/p)}", "@font-face{font-family:x}"])
def test_the_console_refuses_a_style_that_could_load_something(css):
    with pytest.raises(UnsafeSvg):
        check_svg(f'<svg xmlns="http://www.w3.org/2000/svg"><style>{css}</style></svg>'.encode())


def test_the_points_sit_on_their_days_of_the_window():
    svg = burn_down_svg(title="t", days=[(date(2026, 12, 1), 100.0), (date(2026, 12, 31), 0.0)], ideal_days=31)
    (line,) = ET.fromstring(svg).findall(f"{SVG}polyline")
    assert line.get("points") == "48.0,48.0 592.0,252.0"  # 100 % on the first day, 0 % on the 31st
