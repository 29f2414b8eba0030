"""`finops ingest onprem FILE`: an on-prem GPU inventory -> assets + daily owned cost lines."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import click

from dashboard.cli import App
from dashboard.commands.ingest import allow_shrink_option, load_cost_lines


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, readable=False))
@click.option("--start", metavar="YYYY-MM", help="First month to price (default: see below).")
@click.option("--end", metavar="YYYY-MM", help="Last month to price.")
@allow_shrink_option
@click.pass_obj
def command(app: App, file: Path, start: str | None, end: str | None) -> None:
    """Load an on-prem GPU inventory (CSV or TOML, one server a row).

    Each server's cost per day in service (amortised capex, colo, ops, idle power and energy
    above idle) becomes one cost line; the inventory itself lands in `assets`. Without
    --start/--end the months priced are those of the cloud bills already in the warehouse,
    or else from the first purchase to today. Energy above idle uses the GPU power in
    `gpu_util` where telemetry was ingested before, else the load estimate: run this again
    after ingesting telemetry to refine it.
    """
    from ingest import onprem
    from ingest.input_path import check_input
    from models.errors import FinopsError

    try:
        check_input(file)
        inv = onprem.read_inventory(file)
        plan = onprem.plan(app.warehouse, inv, start, end, datetime.now(UTC).date())
    except FinopsError as exc:
        app.store().record_error("cost_lines", "onprem", str(file), exc)
        raise
    from rich.text import Text

    for warning in inv.warnings:
        app.err_console.print(Text.assemble(("warning", "yellow"), f": {warning}"))
    app.err_console.print(
        f"pricing {len(inv.rows)} server(s), {plan.months[0]} .. {plan.months[-1]} "
        f"({plan.window_from})"
    )

    @contextlib.contextmanager
    def batches():
        yield list(onprem.period_loads(inv, plan.months, plan.measured, plan.until))

    load_cost_lines(app, "onprem", str(file), batches)
    store = app.store()
    with store.writer():
        result = onprem.store_assets(store, inv)
    from ingest import derived

    derived.refresh(store, app.settings, [result])  # owned servers' rates are in gpu_hours
    app.console.print(
        f"assets: {result.rows} server(s) of {result.billing_account} (v{result.table_version})"
    )
