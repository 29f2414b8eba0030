"""`finops loads`: the record of every load."""

from __future__ import annotations

import click

from dashboard.cli import App
from dashboard.commands.progress import money


@click.command()
@click.option("--errors", is_flag=True, help="Show failed loads and their messages instead.")
@click.pass_obj
def command(app: App, errors: bool) -> None:
    """List loads: source, account, period, rows, totals, status and the version produced."""
    from rich.table import Table

    con = app.connect()
    if errors:
        rows = con.execute(
            "select at, source, target, error, message from load_errors order by at desc"
        ).fetchall()
        table = Table("at", "source", "target", "error", "message", title="Failed loads")
        for at, source, target, error, message in rows:
            table.add_row(at.isoformat(timespec="seconds"), source, target, error, message)
        app.console.print(table)
        return
    rows = con.execute(
        """select load_id, dataset, source, billing_account, billing_period, currency, rows,
                  source_total, warehouse_total, status, table_version, finished_at
           from loads order by finished_at desc"""
    ).fetchall()
    table = Table(title="Loads")
    for name in (
        "load", "dataset", "source", "account", "period", "currency", "rows",
        "source total", "warehouse total", "status", "version", "finished",
    ):  # fmt: skip
        table.add_column(name)
    for r in rows:
        table.add_row(
            r[0], r[1], r[2], r[3], r[4], r[5] or "", f"{r[6]:,}", money(r[7]), money(r[8]),
            r[9], "" if r[10] is None else str(r[10]), r[11].isoformat(timespec="seconds"),
        )  # fmt: skip
    app.console.print(table)
