"""Data movement: egress by kind, provider, region pair and resource; its share of AI spend."""

from __future__ import annotations

import streamlit as st

from dashboard.app import charts, session
from dashboard.app.session import money_tile, share
from dashboard.queries import movement as queries_movement
from dashboard.queries import spend as queries


def read() -> dict | None:
    if not session.has("classified_costs"):
        return None
    f = session.filters()
    cur = session.currency()
    by = st.segmented_control(
        "Egress by", list(queries_movement.EGRESS_BY), default="kind", key="eg_by"
    )
    return {
        "cur": cur,
        "by": by or "kind",
        "head": session.ask(queries.headline, f, cur),
        "table": session.ask(queries_movement.egress, f, by or "kind", cur),
        "monthly": session.ask(queries_movement.egress_monthly, f, cur),
    }


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet("Egress", "run `finops classify` to classify the billing lines.")
        return
    h, cur = d["head"], d["cur"]
    label = session.cost_label(cur)
    st.caption(f"Money on this page: {label} (Filters: Cost basis).")
    a, b = st.columns(2)
    money_tile(a, "Egress", h["egress"], cur)
    b.metric("Egress share of AI spend", share(h["egress"], h["ai"]))
    st.plotly_chart(
        charts.stacked_monthly(d["monthly"], f"Egress by kind, month on month — {label}", cur)
    )
    st.plotly_chart(charts.bars(d["table"].head(25), f"Egress by {d['by']} — {label}", cur=cur))
    st.caption(
        "Data moved: gigabytes (GiB of GCP converted). Cost per GB: over the lines billed by "
        "volume, so a NAT gateway's hours count in cost but not in cost per GB."
    )
    session.table(session.labelled(d["table"].rename({"key": d["by"]}), cur), cur)


if session.ready():
    st.title("Data movement")
    render(read())
