"""`finops report`: the month's finance pack as XLSX, PDF and CSV."""

from __future__ import annotations

from pathlib import Path

import click

from dashboard.cli.finops import App


@click.command()
@click.option("--month", required=True, metavar="YYYY-MM", help="Billing month to report.")
@click.option(
    "--format",
    "formats",
    default="xlsx,pdf,csv",
    show_default=True,
    help="Comma-separated: xlsx, pdf, csv.",
)
@click.option(
    "--out",
    "out_dir",
    default="reports",
    show_default=True,
    type=click.Path(path_type=Path),  # checked by check_out_dir: one message for every case
    help="Folder for the files (made if missing).",
)
@click.option("--currency", default=None, help="Currency to report (default [report] or USD).")
@click.option(
    "--basis",
    default="amortised",
    show_default=True,
    metavar="amortised|billed",
    help="Cost basis of the spend sheets: amortised (EffectiveCost) or billed (BilledCost, "
    "as invoiced). The reconciliation is always billed.",
)
@click.option("--as-of", default=None, help="Report the warehouse as it was (version or time).")
@click.option(
    "--strict", is_flag=True, help="Exit with code 3 when the reconciliation has a failure."
)
@click.pass_obj
def command(
    app: App,
    month: str,
    formats: str,
    out_dir: Path,
    currency: str | None,
    basis: str,
    as_of: str | None,
    strict: bool,
) -> None:
    """Write the month's finance pack, reconciled to the source totals and invoices."""
    from dashboard.cli.tables import money_with_code
    from dashboard.report.pack import build_pack, check_out_dir
    from ingest.warehouse.connection import parse_as_of
    from models.errors import ReconciliationError

    check_out_dir(out_dir)  # before the month is computed, not after
    con = app.connect(parse_as_of(as_of))
    if as_of is None:  # an older version is read with the derived data of its time
        from ingest.derive.lineage import refuse_stale

        refuse_stale(app.warehouse, app.settings, "finance pack")
    pack = build_pack(con, month, formats, out_dir, currency, app.settings, basis=basis)
    for fmt, paths in pack.files.items():
        shown = paths[0] if len(paths) == 1 else f"{len(paths)} files in {out_dir}"
        app.console.print(f"{fmt}: {shown}")
    total = pack.headline["Total billed"]
    # at the currency's minor units, as every command prints money (JPY 0 digits, KWD 3)
    app.console.print(f"{pack.month} total billed {money_with_code(total, pack.currency)}")
    app.console.print(f"Spend sheets: {pack.basis.label(pack.currency)}")
    rec = pack.sections["reconciliation"].frame
    failed = [r for r in rec.iter_rows(named=True) if r["status"] != "ok"]
    for r in failed:
        app.err_console.print(
            f"Reconciliation failed: {r['source']} {r['billing_account']} {r['currency']}: "
            f"{r['check']}"
        )
    if failed and strict:
        raise ReconciliationError(
            f"{len(failed)} source account(s) do not reconcile for {pack.month}",
            hint="the pack was written; see its Reconciliation sheet",
        )
