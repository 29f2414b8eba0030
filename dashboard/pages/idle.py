"""Idle GPUs (engineers): resources ranked by idle cost; one resource hour by hour."""

from __future__ import annotations

import streamlit as st

from dashboard import charts
from dashboard.pages import session
from dashboard.pages.session import money

Q = "queries_gpu"


def read() -> dict | None:
    if not session.has("gpu_hours"):
        return None
    f = session.filters()
    default = session.settings().idle.idle_below
    threshold = st.slider(
        "Idle when mean GPU activity is below",
        0.01,
        0.50,
        default,
        0.01,
        format="%.2f",
        key="idle_thr",
    )
    ranking = session.ask("ranking", f, threshold, default, module=Q)
    out = {
        "f": f,
        "threshold": threshold,
        "ranking": ranking,
        "hours": None,
        "resource": None,
        "unmonitored": session.ask("unmonitored", f, module=Q),
    }
    if ranking.height:
        resource = st.selectbox("Resource", ranking["resource"].to_list(), key="idle_resource")
        out["resource"] = resource
        out["hours"] = session.ask("resource_hours", f, resource, threshold, default, module=Q)
    return out


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet(
            "GPU-hours",
            "ingest GPU billing and telemetry, then run `finops classify` to build gpu_hours.",
        )
        return
    ranking = d["ranking"]
    if ranking.height == 0:
        st.success("No idle GPU-hours in the selected period at this threshold.")
    else:
        top = ranking.row(0, named=True)
        a, b, c = st.columns(3)
        a.metric("Idle GPU cost", money(ranking["idle_cost"].sum()))
        b.metric("Top idle resource", top["resource"])
        c.metric(
            "Its idle cost",
            money(top["idle_cost"]),
            f"{top['idle_hours']:,} idle GPU-hours",
            delta_color="off",
        )
        st.dataframe(ranking, hide_index=True)
        st.download_button(
            "Download ranking (CSV)",
            ranking.write_csv(),
            file_name="idle_gpus.csv",
            mime="text/csv",
        )
        if d["hours"] is not None:
            st.plotly_chart(charts.idle_timeline(d["hours"], d["resource"], d["threshold"]))
    st.subheader("Unmonitored GPU-hours")
    st.caption("Paid GPU-hours with no telemetry: neither idle nor active.")
    st.dataframe(d["unmonitored"], hide_index=True)


if session.ready():
    st.title("Idle GPUs")
    render(read())
