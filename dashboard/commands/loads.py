"""`finops loads`: the record of every load."""

from __future__ import annotations

import click

from dashboard.cli import App
from dashboard.commands.progress import money
from dashboard.commands.tables import Column, show


@click.command()
@click.option("--errors", is_flag=True, help="Show failed loads and their messages instead.")
@click.pass_obj
def command(app: App, errors: bool) -> None:
    """List loads: source, account, period, rows, totals, status and the version produced."""
    con = app.connect()
    if errors:
        rows = con.execute(
            "select at, source, target, error, message from load_errors order by at desc"
        ).fetchall()
        show(
            app.console,
            ["at", "source", "target", "error", "message"],
            [(at.isoformat(timespec="seconds"), *rest) for at, *rest in rows],
            title="Failed loads",
        )
        return
    rows = con.execute(
        """select load_id, dataset, source, billing_account, billing_period, currency, rows,
                  source_total, warehouse_total, status, table_version, finished_at
           from loads order by finished_at desc"""
    ).fetchall()
    show(
        app.console,
        [
            "load", "dataset", "source", "account", "period", "currency", Column("rows", True),
            Column("source total", True), Column("warehouse total", True), "status",
            Column("version", True), "finished",
        ],
        [
            (
                r[0], r[1], r[2], r[3], r[4], r[5] or "", f"{r[6]:,}", money(r[7]), money(r[8]),
                r[9], "" if r[10] is None else str(r[10]), r[11].isoformat(timespec="seconds"),
            )
            for r in rows
        ],
        title="Loads",
    )  # fmt: skip
