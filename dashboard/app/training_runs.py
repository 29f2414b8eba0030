"""The Training runs section: the costliest runs (Slurm jobs, Kubernetes jobs) with their
GPU-hours, cost, mean GPU activity and idle GPU-hours, and one sentence that says what the
runs cost and how much of their GPU time sat idle. Read with `read()`, drawn by `render()`."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import session
from dashboard.queries import training_runs as queries

TOP = 20
HOW = (
    "load them with `finops ingest jobs slurm SACCT_FILE --tz ZONE` (sacct --parsable2 "
    "--allocations output) or `finops ingest jobs kubernetes DCGM_ANSWERS --cluster NAME`."
)


def read() -> dict:
    idle_below = session.settings().idle.idle_below
    if session.ask(queries.loaded):
        every = session.ask(queries.runs, idle_below, None)
    else:
        every = queries.runs_frame()
    return {"runs": every, "totals": queries.totals(every), "idle_below": idle_below}


def sentence(totals: pl.DataFrame, runs: int) -> str:
    """What the runs cost and how idle they were, per currency (never added across)."""
    parts = []
    for r in totals.iter_rows(named=True):
        idle = r["idle_gpu_hours"] / r["gpu_hours"] if r["gpu_hours"] else 0.0
        parts.append(
            f"{r['runs']:,} runs billed in {r['currency']} cost "
            f"**{session.short_money(r['cost'], r['currency'])}** for "
            f"{r['gpu_hours']:,.0f} GPU-hours, {idle:.1%} of them idle"
        )
    unpriced = runs - int(totals["runs"].sum()) if totals.height else runs
    tail = f"; {unpriced:,} ran on GPUs no bill covers" if unpriced else ""
    return "; ".join(parts) + tail + "."


def shown(frame: pl.DataFrame, cur: str) -> pl.DataFrame:
    """The table's columns, named so that dashboard/labels.py heads them in words with their
    units; money in `cur`. Name and team are in `finops runs` (a Kubernetes job id holds both)."""
    return (
        frame.filter(pl.col("currency") == cur)
        .head(TOP)
        .select(
            pl.col("job_id").alias("Job"),
            pl.col("cluster").alias("Cluster"),
            "start",
            "end",
            pl.col("gpus").round(2).alias("GPUs held"),
            "gpu_hours",
            "cost",
            pl.col("mean_active").alias("mean_activity"),
            pl.col("idle_gpu_hours").alias("idle_hours"),
        )
    )


def render(d: dict) -> None:
    st.subheader("Training runs")
    frame, totals = d["runs"], d["totals"]
    if frame.height == 0:
        session.not_yet("Training runs", HOW)
        return
    st.markdown(sentence(totals, frame.height))
    st.caption(
        "A run's cost is its share of each GPU-hour it held (a MIG slice: its compute "
        f"slices / 7); idle hours are under {d['idle_below']:.0%} mean activity. "
        f"The {TOP} costliest per currency; `finops runs` lists them all."
    )
    for cur in totals["currency"]:
        table = shown(frame, cur)
        session.table(table, cur)
