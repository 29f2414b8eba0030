"""`finops ingest focus PATH_OR_URI`: FOCUS 1.0-1.2 exports from any provider."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import click

from dashboard.cli import App
from dashboard.commands.ingest import load_cost_lines


@click.command()
@click.argument("target", metavar="PATH_OR_URI")
@click.option(
    "--warehouse",
    metavar="DIR",
    help="Warehouse folder (default: ./data/warehouse, or $FINOPS_WAREHOUSE).",
)
@click.option("--profile", metavar="NAME", help="AWS profile for s3:// (default credential chain).")
@click.option("--endpoint-url", metavar="URL", help="S3-compatible endpoint for s3://.")
@click.pass_obj
def command(
    app: App, target: str, warehouse: str | None, profile: str | None, endpoint_url: str | None
) -> None:
    """Load FOCUS files (CSV, CSV.gz, Parquet; a file or a folder, local or s3://). Lines are
    committed per provider billing account and billing period, reconciled to the cent."""
    from ingest import focus, s3

    if warehouse:
        app.warehouse = Path(warehouse)

    @contextlib.contextmanager
    def batches() -> Iterator[list]:
        if s3.is_uri(target):
            with (
                s3.download(target, profile, endpoint_url) as got,
                focus.open_export(got.root, got.display) as loads,
            ):
                yield loads
        else:
            with focus.open_export(Path(target)) as loads:
                yield loads

    load_cost_lines(app, "focus", target, batches)
