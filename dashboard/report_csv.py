"""The pack as CSV: one tidy file per section, money as exact decimal text.

Text from the data (tags, resource names) is neutralised against formula injection the way
OWASP recommends for CSV: a cell that starts with =, +, -, @, tab or carriage return gets a
leading apostrophe, so a spreadsheet opening the file shows it as text and runs nothing.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from pathlib import Path

from dashboard.report_model import Pack, Section, cents

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def inert(text: str) -> str:
    """Text that no spreadsheet will evaluate as a formula."""
    return "'" + text if text.startswith(TRIGGERS) else text


def exact_text(value: Decimal) -> str:
    """Full scale without trailing zeros, at least two decimals: 12.2500008, 3.00."""
    text = f"{Decimal(value).normalize():f}"
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def cell(section: Section, column: str, value: object) -> str:
    if value is None:
        return ""
    if column in section.exact:
        return exact_text(value)  # type: ignore[arg-type]
    if column in section.money:
        return f"{cents(value):f}"  # type: ignore[arg-type]
    if column in section.percent:
        return f"{value:.6f}"
    if isinstance(value, str):
        return inert(value)
    return str(value)


def render(section: Section) -> str:
    """The section as CSV; a section of money starts each row with its `cost_basis` in words
    ("Amortised cost (USD)"), so a file read on its own still says what its money is."""
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    lead = ["cost_basis"] if section.basis else []
    out.writerow(lead + section.frame.columns)
    first = [section.basis] if section.basis else []
    for row in section.frame.iter_rows(named=True):
        out.writerow(first + [cell(section, k, v) for k, v in row.items()])
    return buf.getvalue()


def write(pack: Pack, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for name, section in pack.sections.items():
        path = out_dir / f"{stem}-{name}.csv"
        tmp = path.with_suffix(".csv.part")
        tmp.write_text(render(section), encoding="utf-8")
        tmp.replace(path)
        paths.append(path)
    return paths
