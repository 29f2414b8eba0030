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
    """The pack's reconciliation section (no files written) and whether it all matched."""
    from dashboard.report.pack import build_pack

    pack = build_pack(con, month, out_dir=None, settings=settings)
    section = pack.sections.get("reconciliation")
    return (section.frame if section else pl.DataFrame()), pack.reconciled


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
