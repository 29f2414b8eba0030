"""Data health: every load, freshness per source, failed loads, telemetry coverage."""

from __future__ import annotations

import streamlit as st

from dashboard.app import session

Q = "queries.health"


def read() -> dict:
    out = {
        "loads": session.ask("loads", module=Q),
        "fresh": session.ask("freshness", module=Q),
        "failures": session.ask("failures", module=Q),
        "telemetry": session.ask("telemetry", module=Q),
        "coverage": None,
    }
    if session.has("gpu_hours"):
        out["coverage"] = session.ask("coverage", module="queries.gpu")
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
    session.table(loads)
    st.subheader("Telemetry coverage")
    if d["coverage"] is not None:
        session.table(d["coverage"])
    session.table(d["telemetry"])


if session.ready():
    st.title("Data health")
    render(read())
