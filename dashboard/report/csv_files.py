"""The pack as CSV: one tidy file per section, money as exact decimal text.

Written by the product's one CSV writer (csv_cells): text from the data (tags, resource
names) is neutralised against formula injection, money and shares stay numbers.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from dashboard.report.csv_cells import Figure, csv_text
from dashboard.report.model import Pack, Section, cents


def exact_text(value: Decimal) -> str:
    """Full scale without trailing zeros, at least two decimals: 12.2500008, 3.00."""
    text = f"{Decimal(value).normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def cell(section: Section, column: str, value: object, currency: str | None = None) -> object:
    """The value the writer gets: money and shares as Figures, anything else as it is (text
    is made inert by the writer)."""
    if value is None:
        return None
    if column in section.exact:
        return Figure(exact_text(value))  # type: ignore[arg-type]
    if column in section.money:
        return Figure(f"{cents(value, currency):f}")  # type: ignore[arg-type]
    if column in section.percent:
        return Figure(f"{value:.6f}")
    return value


def render(section: Section, currency: str | None = None) -> str:
    """The section as CSV; a section of money starts each row with its `cost_basis` in words
    ("Amortised cost (USD)"), so a file read on its own still says what its money is."""
    lead = ["cost_basis"] if section.basis else []
    first = [section.basis] if section.basis else []
    rows = (
        first + [cell(section, k, v, currency) for k, v in row.items()]
        for row in section.frame.iter_rows(named=True)
    )
    return csv_text(lead + section.frame.columns, rows)


def write(pack: Pack, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for name, section in pack.sections.items():
        path = out_dir / f"{stem}-{name}.csv"
        tmp = path.with_suffix(".csv.part")
        tmp.write_text(render(section, pack.currency), encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
