"""The finance pack for the Reports page (dashboard/report/pack.py), from the same snapshot."""

from __future__ import annotations

import tempfile
from pathlib import Path

import duckdb
import polars as pl

from models.cost_basis import CostBasis
from models.settings import Settings

MIME = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".csv": "text/csv",
}


def reconciliation(
    con: duckdb.DuckDBPyConnection, month: str, settings: Settings
) -> tuple[pl.DataFrame, bool]:
    """The pack's reconciliation section (no files written) and whether it all matched: the
    section alone, from the month's billed cost per account (the rest of the pack is built
    when asked for, by `files`)."""
    from dashboard.report import data as report_data
    from dashboard.report import sections as report_sections
    from dashboard.report.config import report_settings
    from dashboard.report.model import Month, reconciled

    at = Month.parse(month)
    cur = con.cursor()  # its own temporary table
    try:
        report_data.stage_reconciliation(cur, at)
        section = report_sections.reconciliation(cur, at, report_settings(settings))
    finally:
        cur.close()
    return section.frame, reconciled(section)


def files(
    con: duckdb.DuckDBPyConnection,
    month: str,
    settings: Settings,
    currency: str | None = None,
    basis: CostBasis = CostBasis.AMORTISED,
) -> dict[str, tuple[bytes, str]]:
    """Every file of the pack in `currency` (None: [report] currency) on `basis`: name ->
    (content, MIME type)."""
    from dashboard.report.pack import build_pack

    with tempfile.TemporaryDirectory(prefix="finops-pack-") as out:
        pack = build_pack(
            con, month, out_dir=out, currency=currency, settings=settings, basis=basis
        )
        paths = [p for group in pack.files.values() for p in group]
        return {
            Path(p).name: (
                Path(p).read_bytes(),
                MIME.get(Path(p).suffix, "application/octet-stream"),
            )
            for p in paths
        }
