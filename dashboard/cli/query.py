"""`finops query "SQL"`: read-only SQL over the warehouse views."""

from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime
from decimal import Decimal

import click
import duckdb

from dashboard.cli.finops import App
from dashboard.cli.tables import format_option
from ingest.warehouse import connection as warehouse
from ingest.warehouse.connection import parse_as_of
from models.currency import minor_units, to_minor_units
from models.errors import InputError

VIEWS = "cost_lines, classified_costs, gpu_util, gpu_hours, loads"
ALLOWED = "SELECT statements (and EXPLAIN of a SELECT, without ANALYZE)"


def _refused(found: str) -> InputError:
    return InputError(
        "only read-only queries are allowed",
        expected=ALLOWED,
        found=found,
        hint="the warehouse changes only through `finops ingest`",
    )


def _explained(con: duckdb.DuckDBPyConnection, text: str) -> tuple[str, list[duckdb.Statement]]:
    """What an EXPLAIN wraps: its first word and its statements, as DuckDB's own tokenizer
    and parser see them.

    `EXPLAIN ANALYZE` executes what it explains, so only a plain EXPLAIN of a SELECT is read
    only: what follows the EXPLAIN keyword must parse as exactly one SELECT (`ANALYZE ...`
    and `(ANALYZE) ...` do not)."""
    tokens = [t for t in duckdb.tokenize(text) if t[1] != duckdb.token_type.comment]
    if len(tokens) < 2:
        return "", []
    rest = text.encode()[tokens[1][0] :].decode()  # the tokenizer counts bytes
    try:
        return rest.split(maxsplit=1)[0], con.extract_statements(rest)
    except duckdb.Error:
        return rest.split(maxsplit=1)[0], []


def _refusal(con: duckdb.DuckDBPyConnection, stmt: duckdb.Statement) -> str | None:
    """None when `stmt` only reads, else what it is (for the message)."""
    if stmt.type == duckdb.StatementType.SELECT:
        return None
    if stmt.type != duckdb.StatementType.EXPLAIN:
        return stmt.type.name
    word, inner = _explained(con, stmt.query)
    if len(inner) == 1 and inner[0].type == duckdb.StatementType.SELECT:
        return None
    return f"EXPLAIN {word.upper()}".strip()


def run_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[tuple]]:
    """Execute `sql` if every statement in it only reads; refuse it whole otherwise.

    The statements are told apart by DuckDB's parser, not by looking at the text; and the
    connection itself cannot open anything but the warehouse's data files (warehouse.seal)."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise InputError(
            f"SQL does not parse: {str(exc).splitlines()[0]}", expected=ALLOWED, found=sql[:200]
        ) from None
    if not statements:
        raise InputError("no SQL statement given", hint='e.g. finops query "select 1"')
    for stmt in statements:
        found = _refusal(con, stmt)
        if found is not None:
            raise _refused(found)
    try:
        rel = con.execute(sql)
        names = [d[0] for d in rel.description or []]
        return names, rel.fetchall()
    except duckdb.PermissionException as exc:
        raise InputError(
            f"query failed: it may read only the warehouse views ({VIEWS})",
            found=str(exc).splitlines()[0],
            hint="to query another file, ingest it first",
        ) from None
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
    """Every value exact; text made inert against formula injection (csv_cells)."""
    from dashboard.report.csv_cells import csv_text

    return csv_text(names, rows)


@click.command()
@click.argument("sql")
@format_option()
@click.option("--as-of", metavar="VERSION|TIMESTAMP", help="Query the warehouse as it was then.")
@click.pass_obj
def command(app: App, sql: str, fmt: str, as_of: str | None) -> None:
    """Run read-only SQL over the views cost_lines, classified_costs, gpu_util, gpu_hours, loads."""
    warehouse.require(app.warehouse)
    app.register_views()
    con = warehouse.connect(
        app.warehouse,
        parse_as_of(as_of),
        memory_limit=app.settings.warehouse.memory_limit,
        untrusted=True,  # SQL a user typed: DuckDB opens no file at all
    )
    names, rows = run_read_only(con, sql)
    if as_of is None:  # raw SQL is answered, but not silently over stale derived data
        from ingest.derive.lineage import warn_stale

        warning = warn_stale(app.warehouse, app.settings)
        if warning:
            app.err_console.print(warning, markup=False, highlight=False)
    if fmt == "csv":
        sys.stdout.write(to_csv(names, rows))
    elif fmt == "json":
        sys.stdout.write(to_json(names, rows) + "\n")
    else:
        from dashboard.cli.tables import Column, show

        numeric = [
            any(v is not None for v in col)
            and all(v is None or isinstance(v, int | float | Decimal) for v in col)
            for col in zip(*rows, strict=True)
        ] or [False] * len(names)
        columns = [Column(n, number) for n, number in zip(names, numeric, strict=True)]
        show(app.console, columns, table_cells(names, rows))
        app.console.print(f"{len(rows)} row(s)")
