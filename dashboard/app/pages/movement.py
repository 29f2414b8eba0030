"""Data movement: egress by kind, provider, region pair and resource; its share of AI spend;
where data moves (a Sankey of GB and of money) and whether a dedicated link would pay."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.app.session import money_tile, share
from dashboard.queries import flows as queries_flows
from dashboard.queries import movement as queries_movement
from dashboard.queries import spend as queries
from models.link_prices import default_link_prices


def read() -> dict | None:
    if not session.has("classified_costs"):
        return None
    f = session.filters()
    cur = session.currency()
    flows = session.settings().flows
    by = st.segmented_control(
        "Egress by", list(queries_movement.EGRESS_BY), default="kind", key="eg_by"
    )
    return {
        "cur": cur,
        "by": by or "kind",
        "head": session.ask(queries.headline, f, cur),
        "table": session.ask(queries_movement.egress, f, by or "kind", cur),
        "monthly": session.ask(queries_movement.egress_monthly, f, cur),
        "flows": session.ask(queries_flows.flows, f, flows.addresses),
        "links": session.ask(queries_flows.interconnect, f, flows),
        "prices_as_of": default_link_prices().as_of,
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
    render_flows(d, label)
    render_links(d)


def render_flows(d: dict, label: str) -> None:
    st.subheader("Where data moves")
    flows = d["flows"].filter(pl.col("currency") == d["cur"])
    if flows.is_empty():
        st.info(f"No egress billed in {d['cur']} in this period.")
        return
    st.caption(
        "Each band is a flow from where it was billed to where it went: the region pair a "
        "usage type names, the internet or a CDN, or the place finops.toml [flows.addresses] "
        "gives a resource (billing alone says internet for a copy to another cloud)."
    )
    st.plotly_chart(charts.sankey(flows, "gb", "Data moved, gigabytes", "GB"))
    st.plotly_chart(charts.sankey(flows, "cost", f"Cost of the data moved — {label}", d["cur"]))


def render_links(d: dict) -> None:
    st.subheader("Would a dedicated link pay?")
    links = d["links"]
    if not links:
        st.info(
            "No traffic between two sites (cloud regions or your own) in this period: egress to "
            "the internet or a CDN needs no link. Map resources to sites in finops.toml "
            "[flows.addresses]."
        )
    for v in links:
        st.markdown(v.sentence())
    if links:
        session.table(_links_table(links), "USD")
    st.caption(
        f"Link prices as of {d['prices_as_of']:%d %B %Y}: AWS Direct Connect and Google Cloud "
        "Interconnect list prices (port-hours x 730 a month, transfer over the link per GB). "
        "Every figure in the table is a month's: GB and today's bill are the egress billed for "
        "the path, a month on average over the period, in USD. Cross-connect and one-off fees: "
        "finops.toml [flows]."
    )


def _links_table(links: list) -> pl.DataFrame:
    """One row a pair: today's bill against the link the sentence names (sizes and products
    are in the sentence; the table keeps the figures)."""
    rows = []
    for v in links:
        c = v.chosen
        rows.append(
            {
                "between": f"{v.path.a} ↔ {v.path.b}",
                "gb_a_month": float(v.path.gb_per_month),
                "billed_a_month": v.path.cost_per_month.quantize(Decimal("0.01")),
                "link_a_month": c.link_per_month if c else None,
                "saving_a_month": c.saving_per_month if c else None,
                "break_even_gb_a_month": float(c.break_even_gb)
                if c and c.break_even_gb is not None
                else None,
                "busiest_hour_gbps": round(v.needed_gbps, 2),
            }
        )
    return pl.DataFrame(rows)


if session.ready():
    st.title("Data movement")
    render(read())
