"""`finops ingest azure PATH | azblob://account/container/prefix | --api --scope S --month M`."""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import click

from dashboard.cli.finops import App
from dashboard.cli.ingest import allow_shrink_option, load_cost_lines
from ingest.sources.delivery import Loads
from ingest.warehouse.load_contract import PeriodLoad
from models.errors import InputError


@click.command()
@click.argument("target", required=False, metavar="PATH|azblob://ACCOUNT/CONTAINER/PREFIX")
@click.option("--api", is_flag=True, help="Query the Cost Management API instead of files.")
@click.option("--scope", help="Cost Management scope for --api (default: [sources.azure] scope).")
@click.option("--month", metavar="YYYY-MM", help="Only this billing month (required with --api).")
@allow_shrink_option
@click.pass_obj
def command(app: App, target: str | None, api: bool, scope: str | None, month: str | None) -> None:
    """Load Azure cost details (EA, MCA, pay-as-you-go; actual and amortized).

    PATH is a cost-details CSV (.csv.gz, .parquet) or a folder of them; a folder with actual/
    and amortized/ gives BilledCost from actual and EffectiveCost from amortized. A Cost
    Management export folder (<export>/<YYYYMMDD-YYYYMMDD>/<runId>/ with manifest.json) is
    read as the newest complete run of each month; older and incomplete runs are listed as
    skipped. With --api the month is read from the Cost Management Query API for --scope.
    """
    from ingest.warehouse.billing_period import month_bounds

    settings = app.settings.azure
    if month is not None:
        month_bounds(month)
    if api:
        if target:
            raise InputError("give either PATH or --api, not both", found=target)
        scope = scope or settings.scope
        if not scope or not month:
            raise InputError(
                "--api needs a scope and a month",
                expected="--scope /providers/Microsoft.Billing/billingAccounts/<id> "
                "--month YYYY-MM",
                found=f"scope={scope!r}, month={month!r}",
                hint="or set scope in [sources.azure] of finops.toml",
            )
        label = f"{scope} {month}"

        @contextlib.contextmanager
        def from_api() -> Iterator[list[PeriodLoad]]:
            from ingest.sources import azure_api

            azure_api.account_of(scope)
            columns, rows = azure_api.fetch(scope, month, settings)
            yield azure_api.period_loads(scope, month, columns, rows, label)

        load_cost_lines(app, "azure", label, from_api)
        return
    if not target:
        raise InputError(
            "nothing to load",
            expected="PATH, azblob://ACCOUNT/CONTAINER/PREFIX or --api",
            hint="see `finops ingest azure --help`",
        )

    if "://" in target:  # checked before anything is stored: a SAS never reaches load_errors
        from ingest.sources import azure_blob

        azure_blob.parse_uri(target, settings)

    @contextlib.contextmanager
    def from_files() -> Iterator[list[PeriodLoad]]:
        from ingest.sources import azure_delivery
        from ingest.sources.input_path import check_input

        with tempfile.TemporaryDirectory(prefix="finops-azure-") as tmp:
            work = Path(tmp)
            if target.startswith("azblob://"):
                from ingest.sources import azure_blob

                container = azure_blob.Container(azure_blob.parse_uri(target, settings), settings)
                yield _only(azure_delivery.read_container(container, target, work), month)
            else:
                check_input(Path(target))
                yield _only(azure_delivery.read(Path(target), target, work), month)

    load_cost_lines(app, "azure", target, from_files)


def _only(loads: Loads, month: str | None) -> Loads:
    if month is None:
        return loads
    return Loads([b for b in loads if b.billing_period == month], loads.skipped)
