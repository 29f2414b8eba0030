"""Charts for the PDF pack, drawn with reportlab's own graphics: offline and byte-stable.

Pure functions: numbers in, a Drawing out. Long tails are folded into "other" so a chart
stays readable.
"""

from __future__ import annotations

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors

from dashboard import palette

PALETTE = [colors.HexColor(c) for c in palette.COLOURS]  # the dashboard's, colour-blind safe
WIDTH = 500


def top(items: list[tuple[str, float]], n: int = 8) -> list[tuple[str, float]]:
    """The n largest items, the rest summed as 'other'."""
    items = sorted(items, key=lambda kv: (-kv[1], kv[0]))
    if len(items) <= n:
        return items
    rest = sum(v for _, v in items[n - 1 :])
    return [*items[: n - 1], ("other", rest)]


def _title(drawing: Drawing, text: str, height: float) -> None:
    drawing.add(String(0, height - 12, text, fontName="Helvetica-Bold", fontSize=11))


def bars(title: str, items: list[tuple[str, float]], unit: str) -> Drawing:
    """Horizontal bars, largest first (spend by provider, by class, idle cost by team).

    Items under one unit either way are left out (a class of -0.0031 is a rounding line,
    not a bar)."""
    items = top([(k, v) for k, v in items if abs(v) >= 0.5])
    rows = max(len(items), 1)
    height = 40 + rows * 18
    d = Drawing(WIDTH, height)
    _title(d, title, height)
    if not items:
        d.add(String(0, height - 30, "nothing to show this month", fontName="Helvetica"))
        return d
    chart = HorizontalBarChart()
    chart.x, chart.y = 150, 10
    chart.width, chart.height = WIDTH - 220, rows * 18
    chart.data = [[v for _, v in reversed(items)]]
    # a negative bar (a credit) says its amount beside its name: a label at its end would
    # run into the names
    chart.categoryAxis.categoryNames = [
        k[:28] if v >= 0 else f"{k[:16]} ({unit} {v:,.0f})" for k, v in reversed(items)
    ]
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 8
    chart.valueAxis.valueMin = min(0, min(v for _, v in items))
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: f"{v:,.0f}"
    chart.bars[0].fillColor = PALETTE[0]
    chart.barLabelFormat = lambda v: f"{unit} {v:,.0f}" if v >= 0 else ""
    chart.barLabels.fontName = "Helvetica"
    chart.barLabels.fontSize = 7
    chart.barLabels.boxAnchor = "w"
    chart.barLabels.dx = 3
    d.add(chart)
    return d


def stacked(title: str, periods: list[str], series: dict[str, list[float]]) -> Drawing:
    """Stacked monthly columns, one colour per provider (the twelve-month trend)."""
    height = 230
    d = Drawing(WIDTH, height)
    _title(d, title, height)
    if not periods:
        d.add(String(0, height - 30, "nothing to show", fontName="Helvetica"))
        return d
    names = sorted(series)
    chart = VerticalBarChart()
    chart.x, chart.y = 50, 40
    chart.width, chart.height = WIDTH - 170, height - 70
    chart.data = [series[n] for n in names]
    chart.categoryAxis.categoryNames = periods
    chart.categoryAxis.style = "stacked"
    chart.categoryAxis.labels.fontName = "Helvetica"
    chart.categoryAxis.labels.fontSize = 7
    chart.categoryAxis.labels.angle = 45
    chart.categoryAxis.labels.boxAnchor = "ne"
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = "Helvetica"
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.labelTextFormat = lambda v: f"{v:,.0f}"
    colour = {n: colors.HexColor(c) for n, c in palette.colours(names).items()}
    for i, n in enumerate(names):  # a provider in the colour it has on the dashboard
        chart.bars[i].fillColor = colour[n]
    d.add(chart)
    legend = Legend()
    legend.x, legend.y = WIDTH - 110, height - 30
    legend.fontName = "Helvetica"
    legend.fontSize = 8
    legend.columnMaximum = 12
    legend.alignment = "right"
    legend.colorNamePairs = [(colour[n], n[:18]) for n in names]
    d.add(legend)
    return d
