"""`finops export --month YYYY-MM`: one billing month of cost_lines as a FOCUS 1.2 CSV file.

Written as FOCUS tools (and the FinOps Foundation's focus-validator) read it: the FOCUS columns
in the specification's order, then our `x_` columns (FOCUS allows custom columns with that
prefix); timestamps as `2026-10-01T00:00:00Z`; money and quantities as exact decimal text
(12 decimals, as stored); Tags and other JSON columns as JSON text; an empty field for null.

Text cells (resource names, descriptions, tags) that start with =, +, -, @, tab or carriage
return get a leading apostrophe against formula injection (csv_cells); numeric, decimal and
date columns never do, so a negative amount stays a number and the file stays valid FOCUS.
"""

from __future__ import annotations

import re
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

import click
import duckdb

from dashboard.cli.finops import App
from dashboard.report.csv_cells import Figure, line, write_rows
from models.errors import InputError
from models.schema import COST_LINES

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
BATCH = 50_000  # rows fetched at a time: a month of any size streams in bounded memory


def month_start(text: str) -> date:
    found = MONTH.match(text.strip())
    if found is None:
        raise InputError(
            "not a month", location="--month", expected="YYYY-MM, e.g. 2026-10", found=text
        )
    return date(int(found[1]), int(found[2]), 1)


WHERE = (
    "WHERE BillingPeriodStart >= ?::TIMESTAMPTZ "
    "AND BillingPeriodStart < ?::TIMESTAMPTZ + INTERVAL 1 MONTH"
)

# In time order, so every source's lines come early in the file: readers that infer a column's
# type from its first rows (focus-validator reads 10,000) meet AWS's numeric account ids beside
# Azure's and GCP's textual ones, and take the column for text, as it is.
ORDER = "ChargePeriodStart, x_Source, x_LineId"


def _select() -> str:
    cols = []
    for col in COST_LINES.columns:
        name = f'"{col.name}"'
        if col.kind == "datetime":
            cols.append(f"strftime({name}, '%Y-%m-%dT%H:%M:%SZ') AS {name}")
        else:
            cols.append(name)
    return f"SELECT {', '.join(cols)} FROM cost_lines {WHERE} ORDER BY {ORDER}"


# Decimals are written exactly, at the warehouse's scale of 12 decimals: readers that infer a
# column's type from its text (focus-validator's among them) see a decimal column, never an
# integer one that breaks at the first fraction. Times come formatted by the query: Figures.
_TIMES = [i for i, col in enumerate(COST_LINES.columns) if col.kind == "datetime"]


def _values(row: tuple) -> list[object]:
    values = list(row)
    for i in _TIMES:
        if values[i] is not None:
            values[i] = Figure(values[i])
    return values


def month_lines(con: duckdb.DuckDBPyConnection, month: str) -> int:
    start = month_start(month).isoformat()
    return con.execute(f"SELECT count(*) FROM cost_lines {WHERE}", [start, start]).fetchone()[0]


def write_focus_csv(con: duckdb.DuckDBPyConnection, month: str, out: TextIO) -> int:
    """Write the lines of billing period `month` (YYYY-MM) to `out`; returns the line count."""
    start = month_start(month).isoformat()
    rel = con.execute(_select(), [start, start])
    out.write(line(COST_LINES.names))
    count = 0
    while rows := rel.fetchmany(BATCH):
        count += write_rows(out, map(_values, rows))
    return count


@click.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="The billing period to export.")
@click.option(
    "--out",
    metavar="FILE",
    default="-",
    show_default=True,
    help="CSV file to write; '-' writes to standard output.",
)
@click.pass_obj
def command(app: App, month: str, out: str) -> None:
    """Export a billing month of cost_lines as a FOCUS 1.2 CSV file (plus x_ columns)."""
    month_start(month)  # a bad month is refused before anything is opened or written
    con = app.connect()
    if month_lines(con, month) == 0:
        raise InputError(
            f"no cost lines in billing period {month}",
            location="--month",
            hint="`finops loads` lists the periods in the warehouse",
        )
    if out == "-":
        write_focus_csv(con, month, sys.stdout)
        return
    try:
        with Path(out).open("w", encoding="utf-8", newline="") as stream:
            count = write_focus_csv(con, month, stream)
    except OSError as exc:  # a folder, a path below a file, no permission, a full disk
        raise InputError(
            "cannot write the export",
            file=out,
            location="--out",
            expected="a file this user can write ('-' for standard output)",
            found=(exc.strerror or type(exc).__name__).lower(),
            hint="choose another --out file, or give its folder write access",
        ) from None
    app.err_console.print(f"{count:,} lines of {month} written to {out}")
