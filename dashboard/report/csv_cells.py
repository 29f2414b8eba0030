"""The one way the product writes CSV: dashboard downloads, the finance pack's CSV,
`finops query --format csv`, `finops loads --format csv` and `finops export`.

Text cells are neutralised against formula injection as OWASP recommends for CSV: text that
starts with =, +, -, @, tab or carriage return gets a leading apostrophe, so a spreadsheet
opening the file shows it as text and runs nothing. Only text is escaped, never a number,
an amount, a date or a time: "-1.500000000000" in a money column stays a number, and the FOCUS
export stays valid FOCUS (its numeric and date columns keep their form).

Fields are quoted as RFC 4180 says: a field holding a comma, a double quote, a carriage
return or a line feed is written in double quotes, its quotes doubled. The quoting is done
here because Python's csv module leaves a lone carriage return unquoted when rows end in a
line feed, and LibreOffice then starts a new row in the middle of the cell.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    import polars as pl

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
_NEEDS_QUOTES = re.compile(r'[,"\r\n]')


class Figure(str):
    """Text the product formatted itself from a number or a date ("12.50", "0.250000",
    "2026-10-01T00:00:00Z"): written as it is, never escaped."""

    __slots__ = ()


def inert(text: str) -> str:
    """Text that no spreadsheet will evaluate as a formula."""
    return "'" + text if text.startswith(TRIGGERS) else text


def quoted(text: str) -> str:
    """One RFC 4180 field."""
    if _NEEDS_QUOTES.search(text):
        return '"' + text.replace('"', '""') + '"'
    return text


def cell(value: object) -> str:
    """A value as one CSV field: numbers, decimals, dates and Figures as they are, everything
    else as inert text; None is an empty field."""
    if value is None:
        return ""
    if isinstance(value, Figure):
        return quoted(str(value))
    if isinstance(value, str):
        return quoted(inert(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return quoted(inert(str(value)))  # a list, a map: text from the data


def line(values: Iterable[object]) -> str:
    """One CSV record, ending in a line feed."""
    return ",".join([cell(v) for v in values]) + "\n"


def write_rows(out: TextIO, rows: Iterable[Iterable[object]]) -> int:
    """Write `rows` to `out`; returns how many were written."""
    count = 0
    for row in rows:
        out.write(line(row))
        count += 1
    return count


def csv_text(names: Iterable[str], rows: Iterable[Iterable[object]]) -> str:
    """A header of `names`, then the rows."""
    return line(names) + "".join([line(row) for row in rows])


def frame_csv(frame: pl.DataFrame) -> bytes:
    """A polars frame as UTF-8 CSV bytes (what a download button serves); polars' own
    write_csv escapes nothing."""
    return csv_text(frame.columns, frame.iter_rows()).encode("utf-8")
