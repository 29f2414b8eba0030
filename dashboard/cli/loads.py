"""`finops loads`: the record of every load."""

from __future__ import annotations

import re
import sys

import click

from dashboard.cli.finops import App
from dashboard.cli.tables import Column, format_option, money, show

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _check(con, source: str | None, period: str | None) -> None:
    """A period that is not a month, or a source no load came from, is named with what there
    is."""
    from models.errors import InputError, did_you_mean

    if period is not None and not _PERIOD.fullmatch(period):
        raise InputError("--period is not a month", expected="YYYY-MM, e.g. 2026-10", found=period)
    if source is None:
        return
    known = [
        s
        for (s,) in con.execute(
            "select source from loads union select source from load_errors order by 1"
        ).fetchall()
    ]
    if source not in known:
        raise InputError(
            f"no loads from source {source!r}{did_you_mean(source, known)}",
            expected="one of " + ", ".join(known) if known else "a source, once one is loaded",
            found=source,
        )


@click.command()
@click.option("--errors", is_flag=True, help="Show failed loads and their messages instead.")
@click.option("--source", metavar="NAME", help="Only loads from this source, e.g. aws-cur2.")
@click.option("--period", metavar="YYYY-MM", help="Only loads of this billing period.")
@click.option(
    "--last", type=click.IntRange(min=1), metavar="N", help="Only the N most recent loads."
)
@format_option("csv and json give the totals exactly; the table at the currency's minor units.")
@click.pass_obj
def command(
    app: App, errors: bool, source: str | None, period: str | None, last: int | None, fmt: str
) -> None:
    """List loads, newest first: source, account, period, rows, totals, status and the
    version produced."""
    con = app.connect()
    _check(con, source, period)
    if errors:  # "at" is quoted: DuckDB 2.0 reads a bare AT as a keyword
        rel = con.execute(
            """select "at", source, target, error, message from load_errors
               where $source is null or source = $source
               order by "at" desc limit coalesce($n, 9223372036854775807)""",
            {"source": source, "n": last},
        )
        rows = rel.fetchall()
        if fmt != "table":
            _write(fmt, [d[0] for d in rel.description], rows)
            return
        if not rows:
            app.console.print("No failed loads.")
            return
        show(
            app.console,
            ["at", "source", "target", "error", "message"],
            [(at.isoformat(timespec="seconds"), *rest) for at, *rest in rows],
            title="Failed loads",
        )
        return
    rel = con.execute(
        """select load_id, dataset, source, billing_account, billing_period, currency, rows,
                  source_total, warehouse_total, status, table_version, finished_at
           from loads
           where ($source is null or source = $source)
             and ($period is null or billing_period = $period)
           order by finished_at desc limit coalesce($n, 9223372036854775807)""",
        {"source": source, "period": period, "n": last},
    )
    rows = rel.fetchall()
    if fmt != "table":
        _write(fmt, [d[0] for d in rel.description], rows)
        return
    if not rows:
        app.console.print("No loads match." if source or period else "No loads yet.")
        return
    show(
        app.console,
        [
            "load", "dataset", "source", "account", "period", "currency", Column("rows", True),
            Column("source total", True), Column("warehouse total", True), "status",
            Column("version", True), "finished",
        ],
        [
            (
                r[0], r[1], r[2], r[3], r[4], r[5] or "", f"{r[6]:,}", money(r[7], r[5]),
                money(r[8], r[5]),
                r[9], "" if r[10] is None else str(r[10]), r[11].isoformat(timespec="seconds"),
            )
            for r in rows
        ],
        title="Loads",
    )  # fmt: skip


def _write(fmt: str, names: list[str], rows: list[tuple]) -> None:
    """The rows for a script: every value exact, in the same form as `finops query`."""
    from dashboard.cli.query import to_csv, to_json

    sys.stdout.write(to_csv(names, rows) if fmt == "csv" else to_json(names, rows) + "\n")
