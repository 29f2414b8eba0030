"""The pack as PDF: headline, the charts a CFO expects, the summary and reconciliation tables.

reportlab only (fonts built into every PDF reader, charts from report_charts), so it renders
offline; invariant mode keeps the bytes stable, and the one moving part is the generated-at
stamp on the first page.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.platypus import PageBreak, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from dashboard.report import charts as charts
from dashboard.report.csv_files import exact_text
from dashboard.report.model import Pack, Section, cents, digits, money_text

STYLE = TableStyle(
    [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 7.5),
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 7.5),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDE5F0")),
        ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.black),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F5F7FA")]),
    ]
)


def _cell(section: Section, column: str, value, small, currency: str | None = None) -> object:
    if value is None:
        return ""
    if column in section.exact:
        return exact_text(value)
    if column in section.money:
        return f"{cents(value, currency):,.{digits(currency)}f}"
    if column in section.percent:
        return f"{value:.1%}"
    if isinstance(value, int):
        return f"{value:,}"
    text = str(value)
    return Paragraph(escape(text), small) if len(text) > 24 else text


WIDTH = A4[0] - 30 * mm  # the page between the margins `write` sets
_PAD = 12  # reportlab's cell padding, 6 points either side


def _widths(rows: list[list[object]]) -> list[float]:
    """Each column as wide as its widest cell, so numbers never run into their neighbours;
    columns of wrapped text (Paragraphs) give up width until the table fits the page."""
    widths, flexible = [], []
    for i, column in enumerate(zip(*rows, strict=True)):
        texts = [c.text if isinstance(c, Paragraph) else str(c) for c in column]
        fonts = ["Helvetica-Bold"] + ["Helvetica"] * (len(texts) - 1)
        widths.append(max(stringWidth(t, f, 7.5) for t, f in zip(texts, fonts, strict=True)) + _PAD)
        if any(isinstance(c, Paragraph) for c in column):
            flexible.append(i)
    over = sum(widths) - WIDTH
    give = sum(widths[i] for i in flexible)
    if over > 0 and give > 0:
        for i in flexible:
            widths[i] = max(widths[i] - over * widths[i] / give, 18 * mm)
    return widths


def table(
    section: Section,
    small,
    columns: list[str] | None = None,
    limit: int = 40,
    currency: str | None = None,
) -> Table:
    columns = columns or section.frame.columns
    df = section.frame.select(columns)
    body = [
        [_cell(section, c, v, small, currency) for c, v in zip(columns, r, strict=True)]
        for r in df.head(limit).iter_rows()
    ]
    numeric = {
        i
        for i, c in enumerate(columns)
        if c in section.money or c in section.exact or c in section.percent
    }
    head = [c.replace("_", " ") for c in columns]
    t = Table([head, *body], repeatRows=1, hAlign="LEFT", colWidths=_widths([head, *body]))
    style = TableStyle(STYLE.getCommands())
    for i in numeric:
        style.add("ALIGN", (i, 0), (i, -1), "RIGHT")
    t.setStyle(style)
    return t


def _headline(pack: Pack, styles) -> Table:
    rows = [["measure", f"amount ({pack.currency})"]]
    rows += [[k, money_text(v, pack.currency)] for k, v in pack.headline.items()]
    t = Table(rows, hAlign="LEFT", colWidths=[70 * mm, 50 * mm])
    style = TableStyle(STYLE.getCommands())
    style.add("ALIGN", (1, 0), (1, -1), "RIGHT")
    style.add("FONTSIZE", (0, 0), (-1, -1), 9)
    t.setStyle(style)
    return t


def _items(section: Section, dimension: str, cost: str) -> list[tuple[str, float]]:
    df = section.frame.filter(pl.col("dimension") == dimension)
    return [(str(v), float(c)) for v, c in zip(df["value"], df[cost], strict=True)]


def _trend(section: Section, cost: str, keep: int = 7) -> tuple[list[str], dict[str, list[float]]]:
    """Monthly spend per provider; providers beyond the `keep` largest are summed as other."""
    df = section.frame
    periods = sorted(set(df["period"]))
    totals: dict[str, float] = {}
    for provider, amount in zip(df["provider"], df[cost], strict=True):
        totals[provider] = totals.get(provider, 0.0) + float(amount)
    named = {k for k, _ in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:keep]}
    series: dict[str, list[float]] = {}
    for period, provider, amount in df.select("period", "provider", cost).iter_rows():
        name = provider if provider in named or len(totals) <= keep + 1 else "other"
        series.setdefault(name, [0.0] * len(periods))[periods.index(period)] += float(amount)
    return periods, series


def write(pack: Pack, path: Path) -> Path:
    rl_config.invariant = 1  # no creation date or random document id in the bytes
    styles = getSampleStyleSheet()
    small = styles["BodyText"].clone("small", fontSize=7, leading=8.5)
    s = pack.sections
    label, cost = pack.basis.label(pack.currency), f"{pack.basis.value}_cost"
    story: list = [
        Paragraph(escape(f"AI spend finance pack — {pack.month}"), styles["Title"]),
        Paragraph(
            escape(
                f"Currency {pack.currency}. "
                f"Generated at {pack.generated_at:%Y-%m-%d %H:%M:%S} UTC. "
                f"Spend is {label}; the reconciliation is billed cost and idle GPU waste "
                "amortised cost, whatever the pack's basis."
            ),
            styles["BodyText"],
        ),
        Spacer(1, 4 * mm),
        _headline(pack, styles),
        Spacer(1, 4 * mm),
    ]
    rec = s["reconciliation"].frame
    failed = rec.filter(pl.col("status") != "ok").height
    verdict = (
        f"Reconciliation: {rec.height - failed} of {rec.height} source accounts match; "
        f"{failed} FAILED — see the reconciliation table."
        if failed
        else f"Reconciliation: all {rec.height} source accounts match."
    )
    story += [Paragraph(escape(verdict), styles["Heading3"]), Spacer(1, 3 * mm)]
    story.append(
        charts.bars(
            f"Spend by provider / site — {label}",
            _items(s["summary"], "provider/site", cost),
            pack.currency,
        )
    )
    story.append(Spacer(1, 4 * mm))
    story.append(
        charts.bars(
            f"Spend by AI class — {label}", _items(s["summary"], "ai class", cost), pack.currency
        )
    )
    story.append(PageBreak())
    periods, series = _trend(s["trend"], cost)
    story.append(charts.stacked(f"Twelve-month trend by provider — {label}", periods, series))
    story.append(Spacer(1, 6 * mm))
    idle = s["idle_gpu"].frame
    by_team: dict[str, float] = {}
    for team, cost in zip(idle["team"], idle["idle_cost"], strict=True):
        by_team[team] = by_team.get(team, 0.0) + float(cost)
    story.append(
        charts.bars(
            f"Idle GPU waste by team — {s['idle_gpu'].basis}", list(by_team.items()), pack.currency
        )
    )
    story.append(Spacer(1, 6 * mm))
    teams: dict[str, float] = {}
    cb = s["chargeback"].frame
    for team, cost in zip(cb["team"], cb["total_cost"], strict=True):
        teams[team] = teams.get(team, 0.0) + float(cost)
    story.append(charts.bars(f"Chargeback by team (shared split) — {label}", list(teams.items()),
                             pack.currency))  # fmt: skip
    story.append(PageBreak())
    story += [
        Paragraph(escape(s["summary"].title), styles["Heading2"]),
        table(s["summary"], small, limit=60, currency=pack.currency),
    ]
    story += [
        Spacer(1, 6 * mm),
        Paragraph(escape(s["reconciliation"].title), styles["Heading2"]),
        Paragraph(escape(s["reconciliation"].note), small),
        table(
            s["reconciliation"],
            small,
            [
                "source",
                "billing_account",
                "currency",
                "source_total",
                "invoice_total",
                "warehouse_total",
                "difference",
                "status",
            ],
        ),
    ]
    if s["notes"].frame.height:
        story += [
            Spacer(1, 6 * mm),
            Paragraph(escape(s["notes"].title), styles["Heading2"]),
            table(s["notes"], small, ["kind", "scope", "detail", "count"]),
        ]
    tmp = path.with_suffix(".pdf.part")
    doc = SimpleDocTemplate(
        str(tmp),
        pagesize=A4,
        title=f"AI spend finance pack {pack.month}",
        author="hybrid-finops",
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
    )
    doc.build(story)
    tmp.replace(path)
    return path
