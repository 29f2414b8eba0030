"""Data health: every load, freshness per source, failed loads, telemetry coverage."""

from __future__ import annotations

import streamlit as st

from dashboard.app import session
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import health as queries_health


def read() -> dict:
    out = {
        "loads": session.ask(queries_health.loads),
        "fresh": session.ask(queries_health.freshness),
        "failures": session.ask(queries_health.failures),
        "telemetry": session.ask(queries_health.telemetry),
        "coverage": None,
    }
    if session.has("gpu_hours"):
        out["coverage"] = session.ask(queries_gpu.coverage)
    return out


def render(d: dict) -> None:
    loads, failures = d["loads"], d["failures"]
    a, b, c = st.columns(3)
    a.metric("Loads", f"{loads.height:,}")
    b.metric("Sources", f"{d['fresh'].height:,}")
    c.metric("Failed loads", f"{failures.height:,}")
    st.subheader("Freshness per source")
    session.table(d["fresh"])
    st.subheader("Failed loads")
    if failures.height:
        session.table(failures)
    else:
        st.write("None.")
    st.subheader("Every load")
    # the loads as drawn; the CSV has every column (the dataset, table version and load id)
    drawn = ["source", "billing_account", "billing_period", "currency", "rows", "source_total",
             "difference", "status", "finished_at"]  # fmt: skip
    session.table(loads, show=drawn, csv=("every load", "loads.csv"))
    st.subheader("Telemetry coverage")
    if d["coverage"] is not None:
        session.table(d["coverage"])
    session.table(d["telemetry"])


if session.ready():
    st.title("Data health")
    render(read())
