"""The pack's Training runs section: the runs that started in the month, costliest first,
with their GPU-hours, cost, mean GPU activity and idle GPU-hours (models.training_runs)."""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.queries.training_runs import loaded, runs
from dashboard.report.model import Month, Section

COLUMNS = (
    "job_id", "name", "cluster", "team", "state", "start", "end", "gpus", "gpu_hours", "cost",
    "mean_active", "idle_gpu_hours",
)  # fmt: skip


def training_runs(
    con: duckdb.DuckDBPyConnection, month: Month, currency: str, idle_below: float
) -> Section | None:
    """None when the warehouse holds no runs (the pack then has no such section)."""
    if not loaded(con):
        return None
    every = runs(con, idle_below)
    mine = every.filter(
        (pl.col("currency") == currency)
        & (pl.col("start") >= month.start)
        & (pl.col("start") < month.end)
    ).select(COLUMNS)
    return Section(
        "training_runs",
        f"Training runs started in {month} — amortised cost ({currency})",
        mine.with_columns(pl.col("start", "end").dt.replace_time_zone(None)),
        money=("cost",),
        percent=("mean_active",),
        totals=("cost",),
        note="Each run's whole cost (its share of every GPU-hour it held, a MIG slice as its "
        "slices of 7), whatever the pack's cost basis; times in UTC; end empty while running.",
        basis=f"Amortised cost ({currency})",
    )
