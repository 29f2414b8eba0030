"""Own vs rent: price book editable in place; cost per useful GPU-hour; break-even; hybrid."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard import labels
from dashboard.app import charts, session
from dashboard.labels import words
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import own_vs_rent as queries_own
from models.errors import FinopsError
from models.own_vs_rent import cost_per_useful_gpu_hour
from models.recommendation import to_dict


def read() -> dict | None:
    if not session.has("gpu_hours"):
        return None
    settings = session.settings().own_vs_rent
    models = session.ask(queries_gpu.gpu_models)
    base = settings.price_book()
    priced = [g for g in models if g.upper() in {m.upper() for m in base.gpu_models()}]
    if not priced:
        return {"error": f"no owned-node prices for the GPU models in use ({', '.join(models)})"}
    default = next((g for g in priced if g.upper() == settings.gpu.upper()), priced[0])
    gpu = st.selectbox("GPU model", priced, index=priced.index(default), key="ovr_gpu")
    months = st.number_input("Months of history", 1, 36, settings.months, key="ovr_months")
    with st.expander("Price book and assumptions (edit values in place)"):
        table = pl.DataFrame(queries_own.entries(base, gpu))
        named = table.with_columns(  # "Colo USD per kW month", not colo_usd_per_kw_month
            pl.col("key")
            .map_elements(lambda k: words(k.rsplit(".", 1)[-1]), return_dtype=pl.String)
            .alias("assumption")
        )
        edited = st.data_editor(
            named,
            disabled=["key", "assumption", "unit", "source", "as_of", "confidence"],
            hide_index=True,
            column_order=["assumption", "value", "unit", "source", "as_of", "confidence"],
            column_config={c: labels.label(c) for c in named.columns},
            key="ovr_book",
        )
    edits = tuple(
        (k, float(v))
        for k, v, old in zip(table["key"], edited["value"], table["value"], strict=True)
        if v is not None and float(v) != float(old)
    )
    try:
        rec = session.ask(queries_own.recommendation, settings, gpu, int(months), edits)
    except FinopsError as exc:
        return {"error": f"{exc.title}: {exc.render()}"}
    return {"rec": rec, "data": to_dict(rec), "edits": edits}


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet(
            "Own vs rent",
            "needs gpu_hours: ingest GPU billing and telemetry, then run `finops classify`.",
        )
        return
    if "error" in d:
        st.error(d["error"])
        return
    st.caption(session.FIXED_BASIS.format(what="The measured cloud GPU-hour price"))
    rec, data = d["rec"], d["data"]
    r, m = data["recommendation"], data["measured"]
    u_star = r["break_even_utilisation"]
    a, b, c, e = st.columns(4)
    a.metric("Break-even utilisation", "never" if u_star is None else f"{u_star:.1%}")
    b.metric("Measured utilisation, owned", "–" if m["u"] is None else f"{m['u']:.1%}")
    c.metric("Measured utilisation, cloud", "–" if m["u_r"] is None else f"{m['u_r']:.1%}")
    e.metric("Recommended owned baseline", f"{r['owned_baseline_gpus']} GPUs")
    e.caption(f"Saves USD {float(r['annual_saving']):,.0f} a year")
    other = m["cloud_unpriced_gpu_hours"]
    elsewhere = (  # the price book is in USD: another currency's cost is no price here
        f" {other:,} cloud GPU-hours billed in another currency are not in the measured price."
        if other
        else ""
    )
    st.caption(
        f"Burst price USD {r['burst_price_per_gpu_hour']:.2f}/GPU-hour "
        f"({r['burst_price_source']}); cloud utilisation {rec.u_r:.0%} "
        f"({rec.u_r_source}).{elsewhere}"
    )
    grid = [i / 100 for i in range(3, 101)]
    own = [cost_per_useful_gpu_hour(rec.node, u) for u in grid]
    rent = {o.option.name: o.option.value / rec.u_r for o in rec.options if not o.option.committed}
    st.plotly_chart(charts.own_vs_rent(grid, own, rent, u_star, m["u"], m["u_r"]))
    left, right = st.columns(2)
    costs = [float(x) for x in rec.plan.annual_cost_by_nodes]
    left.plotly_chart(charts.hybrid(costs, rec.plan.baseline_nodes, rec.plan.gpus_per_node))
    if u_star is not None:
        right.plotly_chart(charts.tornado(rec.sensitivity, u_star))
    st.subheader("Rent options")
    options = pl.DataFrame(data["options"]).drop("source")
    named = options.with_columns(
        pl.col("key")
        .map_elements(lambda k: words(k.rsplit(".", 1)[-1]), return_dtype=pl.String)
        .alias("option")
    )
    drawn = ["option", "provider", "price_per_gpu_hour", "cost_per_useful_gpu_hour",
             "break_even_utilisation", "annual_cost_per_node"]  # fmt: skip
    session.table(named, "USD", show=drawn, csv=("rent options", "rent_options.csv"))


if session.ready():
    st.title("Own vs rent")
    render(read())
