"""The finance pack's vocabulary: the month it covers, its sections and the files it wrote.

Sections are plain polars frames with exact money (Decimal(38, 12)); the writers (XLSX,
PDF, CSV) only present them, so every format shows the same numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl

from models.cost_basis import DEFAULT, CostBasis
from models.currency import minor_units
from models.errors import InputError

CENT = Decimal("0.01")
FORMATS = ("xlsx", "pdf", "csv")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise InputError(
                "not a month",
                location="--month",
                expected="YYYY-MM, e.g. 2026-09",
                found=text,
            )
        return cls(int(m.group(1)), int(m.group(2)))

    def shift(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive end: the first instant of the next month."""
        return self.shift(1).start

    @property
    def days(self) -> int:
        return (self.end - self.start).days

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Section:
    """One table of the pack: a sheet in the XLSX, a CSV file, maybe a table in the PDF."""

    name: str  # file and sheet key, e.g. "reconciliation"
    title: str
    frame: pl.DataFrame
    money: tuple[str, ...] = ()  # Decimal columns shown as currency, rounded to the cent
    exact: tuple[str, ...] = ()  # Decimal columns shown at full scale (reconciliation)
    percent: tuple[str, ...] = ()  # float fractions shown as percentages
    totals: tuple[str, ...] = ()  # money columns summed in a closing "Total" row
    note: str = ""  # one line under the title: what the numbers are
    basis: str = ""  # what its money is, in words: "Amortised cost (USD)"; "" = no money

    def total(self, column: str) -> Decimal:
        """Exact sum of a money column (what the closing row shows, before rounding)."""
        values = self.frame.get_column(column).drop_nulls()
        return sum((Decimal(v) for v in values), Decimal(0))


@dataclass
class Pack:
    """What `build_pack` produced: the month, its sections and the files written."""

    month: Month
    currency: str
    generated_at: datetime
    sections: dict[str, Section]
    files: dict[str, list[Path]] = field(default_factory=dict)  # format -> paths
    headline: dict[str, Decimal] = field(default_factory=dict)
    basis: CostBasis = DEFAULT  # the cost basis of its spend sections

    @property
    def reconciled(self) -> bool:
        """True when every reconciliation row has status ok."""
        return reconciled(self.sections.get("reconciliation"))


def reconciled(section: Section | None) -> bool:
    """True when every row of a reconciliation section has status ok (none: nothing to check)."""
    if section is None or section.frame.height == 0:
        return True
    return bool((section.frame.get_column("status") == "ok").all())


def digits(currency: str | None) -> int:
    """Decimals the pack shows money in: the currency's ISO 4217 minor unit (JPY 0, USD 2,
    KWD 3), the cent when the currency is not known."""
    found = minor_units(currency)
    return 2 if found is None else found


def cents(value: Decimal | None, currency: str | None = None) -> Decimal | None:
    """Round half-even to the currency's minor unit (the cent when none is given), the way
    the pack presents money; never -0.00 (a rounding line of -0.0031 is shown as 0.00)."""
    if value is None:
        return None
    unit = CENT if currency is None else Decimal(1).scaleb(-digits(currency))
    rounded = Decimal(value).quantize(unit, rounding=ROUND_HALF_EVEN)
    return rounded.copy_abs() if rounded == 0 else rounded


def money_text(value: Decimal | None, currency: str = "") -> str:
    """1234.5 -> '1,234.50' (with a currency code prefix when given; JPY 1,235, KWD 3 places)."""
    if value is None:
        return ""
    text = f"{cents(value, currency or None):,.{digits(currency or None)}f}"
    return f"{currency} {text}" if currency else text
