"""`finops ingest onprem FILE`: an on-prem GPU inventory -> assets + daily owned cost lines."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.ingest import allow_shrink_option, show_loaded
from dashboard.cli.progress import progress_bar


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
    from rich.text import Text

    from ingest import pipeline
    from ingest.sources import onprem
    from ingest.sources.input_path import check_input

    @contextlib.contextmanager
    def read():
        check_input(file)
        inv = onprem.read_inventory(file)
        plan = onprem.plan(app.warehouse, inv, start, end, datetime.now(UTC).date())
        for warning in inv.warnings:
            app.err_console.print(Text.assemble(("warning", "yellow"), f": {warning}"))
        app.err_console.print(
            f"pricing {len(inv.rows)} server(s), {plan.months[0]} .. {plan.months[-1]} "
            f"({plan.window_from})"
        )
        # the owned cost lines, then the servers (their GPU-hour rates feed gpu_hours)
        yield [
            *onprem.period_loads(inv, plan.months, plan.measured, plan.until),
            onprem.assets_load(inv),
        ]

    with progress_bar(app.err_console, f"onprem {file}") as progress:
        outcome = pipeline.run(
            app.store(),
            app.settings,
            "onprem",
            str(file),
            read,
            progress=progress,
            allow_shrink=click.get_current_context().meta.get("allow_shrink", False),
        )
    show_loaded(app, outcome.of("cost_lines"), str(file), outcome.skipped)
    (assets,) = outcome.of("assets")
    app.console.print(
        f"assets: {assets.rows} server(s) of {assets.billing_account} (v{assets.table_version})"
    )
