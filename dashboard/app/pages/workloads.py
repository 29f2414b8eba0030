"""Workloads: training vs inference vs experimentation, by team and month."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.queries import movement as queries_movement


def read() -> dict | None:
    if not session.has("classified_costs"):
        return None
    cur = session.currency()
    return {
        "cur": cur,
        "table": session.ask(queries_movement.workloads, session.filters(), cur),
    }


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet("Workloads", "run `finops classify` to classify the billing lines.")
        return
    table, label = d["table"], session.cost_label(d["cur"])
    monthly = table.group_by("month", "key").agg(pl.col("cost").sum()).sort("month", "key")
    st.plotly_chart(charts.stacked_monthly(monthly, f"AI spend by workload — {label}", d["cur"]))
    by_team = table.group_by("team", "key").agg(pl.col("cost").sum())
    st.plotly_chart(charts.heatmap(by_team, "team", "key", "cost", f"Workload by team — {label}"))
    session.table(session.labelled(table.rename({"key": "workload"}), d["cur"]), d["cur"])


if session.ready():
    st.title("Workloads")
    render(read())
