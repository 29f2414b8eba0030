"""`finops query "SQL"`: read-only SQL over the warehouse views."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from datetime import date, datetime
from decimal import Decimal

import click
import duckdb

from dashboard.cli import App
from ingest.warehouse import parse_as_of
from models.currency import minor_units, to_minor_units
from models.errors import InputError

READ_ONLY = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}


def run_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Execute `sql` if every statement in it only reads; refuse anything else."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise InputError(f"SQL does not parse: {exc}", found=sql[:200]) from None
    if not statements:
        raise InputError("no SQL statement given", hint='e.g. finops query "select 1"')
    for stmt in statements:
        if stmt.type not in READ_ONLY:
            raise InputError(
                "only read-only queries are allowed",
                expected="SELECT (or EXPLAIN)",
                found=stmt.type.name,
                hint="the warehouse changes only through `finops ingest`",
            )
    try:
        rel = con.execute(sql)
        names = [d[0] for d in rel.description or []]
        return names, rel.fetchall()
    except duckdb.Error as exc:
        raise InputError(f"query failed: {exc}") from None


def _plain(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


# A result column holding money, by its name: FOCUS amounts end in Cost (BilledCost,
# sum(EffectiveCost)), gpu_hours has cost and idle_cost, loads source_total and warehouse_total.
_MONEY_NAME = re.compile(r"cost|total|amount|spend", re.IGNORECASE)
_CURRENCY_NAMES = ("billingcurrency", "currency")  # the column that says a row's currency


def _currency_column(names: list[str]) -> int | None:
    lowered = [n.lower() for n in names]
    return next((lowered.index(c) for c in _CURRENCY_NAMES if c in lowered), None)


def table_cells(names: list[str], rows: list[tuple]) -> list[list[str]]:
    """Cells for the terminal. A decimal in a money column of a row whose currency is known
    (a BillingCurrency or currency column in the result) is shown at that currency's minor
    units, half-even; any other decimal exactly, without trailing zeros. csv and json keep
    every value exact."""
    at = _currency_column(names)
    money = [bool(_MONEY_NAME.search(n)) for n in names]
    cells = []
    for row in rows:
        currency = row[at] if at is not None and isinstance(row[at], str) else None
        line = []
        for value, is_money in zip(row, money, strict=True):
            if isinstance(value, Decimal):
                if is_money and minor_units(currency) is not None:
                    line.append(format(to_minor_units(value, currency), "f"))
                    continue
                text = format(value, "f")
                line.append(text.rstrip("0").rstrip(".") if "." in text else text)
            else:
                line.append(_plain(value))
        cells.append(line)
    return cells


def _json_value(value: object) -> str:
    if isinstance(value, Decimal):
        text = format(value, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return text or "0"
    if isinstance(value, datetime | date):
        return json.dumps(value.isoformat())
    return json.dumps(value, default=str)


def to_json(names: list[str], rows: list[tuple]) -> str:
    """A list of objects; decimals are written as exact JSON numbers, never via float."""
    items = [
        "{"
        + ", ".join(f"{json.dumps(n)}: {_json_value(v)}" for n, v in zip(names, row, strict=True))
        + "}"
        for row in rows
    ]
    return "[" + ",\n ".join(items) + "]"


def to_csv(names: list[str], rows: list[tuple]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(names)
    writer.writerows([[_plain(v) for v in row] for row in rows])
    return buf.getvalue()


@click.command()
@click.argument("sql")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "csv", "json"]),
    default="table",
    show_default=True,
)
@click.option("--as-of", metavar="VERSION|TIMESTAMP", help="Query the warehouse as it was then.")
@click.pass_obj
def command(app: App, sql: str, fmt: str, as_of: str | None) -> None:
    """Run read-only SQL over the views cost_lines, classified_costs, gpu_util, gpu_hours, loads."""
    con = app.connect(parse_as_of(as_of))
    names, rows = run_read_only(con, sql)
    if fmt == "csv":
        sys.stdout.write(to_csv(names, rows))
    elif fmt == "json":
        sys.stdout.write(to_json(names, rows) + "\n")
    else:
        from dashboard.commands.tables import Column, show

        numeric = [
            any(v is not None for v in col)
            and all(v is None or isinstance(v, int | float | Decimal) for v in col)
            for col in zip(*rows, strict=True)
        ] or [False] * len(names)
        columns = [Column(n, number) for n, number in zip(names, numeric, strict=True)]
        show(app.console, columns, table_cells(names, rows))
        app.console.print(f"{len(rows)} row(s)")
