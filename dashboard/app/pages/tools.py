"""Tools & SaaS: sprawl families, the team x tool matrix, seat use, consolidation savings."""

from __future__ import annotations

import streamlit as st

from dashboard.app import charts, session
from dashboard.app.session import money_tile
from dashboard.queries import movement as queries_movement
from dashboard.queries import spend as queries


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    tools = session.ask(queries_movement.tools, f, cur)
    elsewhere = []  # currencies that do have tools, when this one has none
    if tools.height == 0:
        listed = session.ask(queries.currencies, f)["currency"].to_list()
        elsewhere = [
            c for c in listed if c != cur and session.ask(queries_movement.tools, f, c).height
        ]
    return {
        "elsewhere": elsewhere,
        "cur": cur,
        "tools": tools,
        "matrix": session.ask(queries_movement.tool_matrix, f, cur),
        "savings": queries_movement.consolidation(tools),
    }


def render(d: dict) -> None:
    tools = d["tools"]
    if tools.height == 0 and d["elsewhere"]:
        st.info(
            f"No tool or SaaS spend is billed in {d['cur']} in this period; there is some in "
            f"{', '.join(d['elsewhere'])} (Filters: Currency)."
        )
        return
    if tools.height == 0:
        session.not_yet("SaaS tools", "ingest SaaS invoices (`finops ingest saas FILE`).")
        return
    a, b, c = st.columns(3)
    cur = d["cur"]
    label = session.cost_label(cur)
    st.caption(f"Money on this page: {label} (Filters: Cost basis).")
    money_tile(a, "Tool spend", tools["cost"].sum(), cur)
    b.metric("Tools", f"{tools.height:,} in {tools['family'].n_unique()} families")
    money_tile(c, "Consolidation savings", d["savings"]["saving"].sum(), cur)
    st.subheader("Families and seats")
    session.table(session.labelled(tools, cur), cur)
    st.plotly_chart(
        charts.heatmap(d["matrix"], "team", "tool", "cost", f"Spend by team and tool — {label}")
    )
    st.subheader("Consolidation")
    st.caption("Every active seat of a family moved to its cheapest tool per active seat.")
    session.table(session.labelled(d["savings"], cur), cur)


if session.ready():
    st.title("Tools & SaaS")
    render(read())
