"""`finops ingest gcp PATH | bq://project.dataset.table --month YYYY-MM`."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.ingest import allow_shrink_option, load_cost_lines
from ingest.warehouse.load_contract import PeriodLoad
from models.errors import InputError


@click.command()
@click.argument("target", metavar="PATH|bq://PROJECT.DATASET.TABLE")
@click.option("--month", metavar="YYYY-MM", help="Invoice month (required for bq://).")
@allow_shrink_option
@click.pass_obj
def command(app: App, target: str, month: str | None) -> None:
    """Load the GCP billing export (standard or detailed schema).

    PATH is a newline-delimited JSON, Parquet or CSV export, or a folder of them. bq://
    queries the export table in BigQuery for one invoice month (Application Default
    Credentials; project and endpoint from [sources.gcp]).
    """
    from ingest.warehouse.billing_period import month_bounds

    if month is not None:
        month_bounds(month)

    @contextlib.contextmanager
    def batches() -> Iterator[list[PeriodLoad]]:
        from ingest.sources import gcp
        from ingest.sources.gcp_export import ExportFile, discover
        from ingest.sources.input_path import check_input

        with tempfile.TemporaryDirectory(prefix="finops-gcp-") as tmp:
            work = Path(tmp)
            if not target.startswith("bq://"):
                check_input(Path(target))
                yield gcp.period_loads(discover(Path(target)), target, work, month)
                return
            from ingest.sources import bigquery

            ref = bigquery.parse_uri(target)
            if month is None:
                raise InputError(
                    "a BigQuery table needs --month",
                    file=target,
                    expected="--month YYYY-MM",
                    hint="one invoice month is read per run",
                )
            path, _ = bigquery.export_month(
                ref, month, app.settings.gcp, work / f"bq-{month}.parquet"
            )
            if not path.exists():  # the month has no rows
                yield []
                return
            exports = [ExportFile(path, f"{ref.uri} {month}", "parquet")]
            yield gcp.period_loads(exports, target, work, month)

    load_cost_lines(app, "gcp", target, batches)
