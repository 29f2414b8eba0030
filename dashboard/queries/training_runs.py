"""Training runs with their GPU-hours, cost, activity and idle GPU-hours (models.training_runs),
costliest first, for `finops runs`, the dashboard's Training runs section and the pack."""

from __future__ import annotations

import duckdb
import polars as pl

from models.training_runs import RUN_COSTS, run_costs_sql

ORDER = "cost DESC NULLS LAST, gpu_hours DESC, start, cluster, job_id"


def runs_sql(top: int | None = None) -> str:
    limit = "" if top is None else f" LIMIT {int(top)}"
    sql = run_costs_sql("SELECT * FROM training_runs", "SELECT * FROM gpu_hours")
    return f"SELECT * FROM ({sql}) ORDER BY {ORDER}{limit}"


def loaded(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the connection has training runs (a warehouse's view; not every connection
    the pack is given has one)."""
    names = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if "training_runs" not in names:
        return False
    return (
        con.execute("SELECT count(*) FROM (SELECT 1 FROM training_runs LIMIT 1)").fetchall()[0][0]
        > 0
    )


def runs(con: duckdb.DuckDBPyConnection, idle_below: float, top: int | None = None) -> pl.DataFrame:
    """One row per run (RUN_COSTS columns), costliest first; `top` keeps the first N.
    `idle_below` is the idle threshold (`[idle] idle_below`) for activity a run measured
    itself (a MIG slice, a pod); GPU-hours' own states were judged with it at ingest."""
    frame = con.sql(runs_sql(top), params={"idle_below": idle_below}).pl()
    if not frame.height:
        return runs_frame()
    return frame.select(RUN_COSTS.names).with_columns(
        pl.col("start", "end").dt.convert_time_zone("UTC")  # DuckDB names it Etc/UTC
    )


def runs_frame() -> pl.DataFrame:
    """No runs, with the columns `runs` gives."""
    return pl.DataFrame(schema={c.name: c.dtype for c in RUN_COSTS.columns})


def totals(frame: pl.DataFrame) -> pl.DataFrame:
    """Per currency: runs, GPU-hours, idle GPU-hours, cost (never across currencies)."""
    return (
        frame.filter(pl.col("currency").is_not_null())
        .group_by("currency")
        .agg(
            pl.len().alias("runs"),
            pl.col("gpu_hours").sum(),
            pl.col("idle_gpu_hours").sum(),
            pl.col("cost").sum(),
        )
        .sort("cost", descending=True)
    )
