"""`finops ingest saas FILE`: SaaS invoices -> cost lines beside Marketplace tool spend."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.ingest import allow_shrink_option, load_cost_lines


@click.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, readable=False))
@allow_shrink_option
@click.pass_obj
def command(app: App, file: Path) -> None:
    """Load SaaS invoices: vendor, product, team, month, amount, currency[, seats,
    active_seats, invoice_id]; one load per (month, currency), reconciled to the cent."""
    from ingest.sources import saas
    from ingest.sources.input_path import check_input

    @contextlib.contextmanager
    def batches():
        check_input(file)  # a pipe, a device or a file we may not read: one message, recorded
        yield list(saas.period_loads(file))

    load_cost_lines(app, "saas", str(file), batches)
