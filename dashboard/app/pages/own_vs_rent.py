"""Own vs rent (CIO, finance): the verdict in one sentence first — how many GPUs to own, what
that saves a year against renting at the measured price, break-even against measured
utilisation — then the current fleet, the caveats, the curves and the price book (editable)."""

from __future__ import annotations

import math
from datetime import timedelta

import polars as pl
import streamlit as st

from dashboard import labels
from dashboard.app import charts, session, verdicts
from dashboard.labels import words
from dashboard.queries import gpu as queries_gpu
from dashboard.queries import own_vs_rent as queries_own
from dashboard.queries import placement as queries_placement
from models.errors import FinopsError
from models.own_vs_rent import cost_per_useful_gpu_hour
from models.placement import ASSUMPTIONS
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
    days = _days(session.filters())
    if days is None:
        months = st.number_input("Months of history", 1, 36, settings.months, key="ovr_months")
    else:
        months = settings.months  # the date filter's days say the history
        st.caption(f"History: {days[0]:%d %b %Y} to {days[1]:%d %b %Y} (Filters: dates).")
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
        rec = session.ask(queries_own.recommendation, settings, gpu, int(months), edits, days)
    except FinopsError as exc:
        return {"error": f"{exc.title}: {exc.render()}"}
    defaults = gpu == default and not edits and days is None and int(months) == settings.months
    return {"rec": rec, "data": to_dict(rec), "edits": edits, "defaults": defaults}


def _days(f) -> tuple | None:
    """The date filter's first and last day, the open end taken from the GPU data (None:
    no date filter, the trailing months are the history)."""
    if f.start is None and f.end is None:
        return None
    span = session.ask(queries_own.hour_range)
    if span is None:
        return None
    first = f.start or max(span[0], (f.end or span[1]) - timedelta(days=365))
    return first, f.end or span[1]


def render(d: dict | None, top=None) -> None:
    """The page; `top` is where the verdict goes (above the inputs, which `read` draws)."""
    if d is None:
        session.not_yet(
            "Own vs rent",
            "needs gpu_hours: ingest GPU billing and telemetry, then run `finops classify`.",
        )
        return
    if "error" in d:
        st.error(d["error"])
        return
    rec, data = d["rec"], d["data"]
    r, m, dem = data["recommendation"], data["measured"], data["demand"]
    told = verdicts.own_vs_rent(data, rec.node)
    (top or st).markdown(told)
    if d["defaults"]:  # the Overview's tile shows the verdict at the page's defaults
        st.session_state[verdicts.OWN_VS_RENT_KEY] = told
    w = rec.measured.window
    u_star = r["break_even_utilisation"]
    a, b, c, e = st.columns(4)
    a.metric("Break-even utilisation", "never" if u_star is None else f"{u_star:.1%}")
    b.metric("Measured utilisation, owned", "–" if m["u"] is None else f"{m['u']:.1%}")
    c.metric("Measured utilisation, cloud", "–" if m["u_r"] is None else f"{m['u_r']:.1%}")
    e.metric("Recommended owned baseline", f"{r['owned_baseline_gpus']:,} GPUs")
    a, b, c, e = st.columns(4)
    a.metric("Owned today", f"{m['owned_gpus']:,} GPUs")
    session.money_tile(b, "Annual saving", r["annual_saving"], "USD")
    session.money_tile(c, "Annual cost, all rented", r["all_rent_annual_cost"], "USD")
    session.money_tile(e, "Annual cost, hybrid", r["annual_cost"], "USD")
    st.caption(
        f"“Saves” compares the hybrid — {r['owned_baseline_gpus']:,} owned GPUs used "
        f"{r['owned_utilisation']:.1%} of the time, the rest of the demand rented at the burst "
        f"price — with renting all of the demand at that price. Today's fleet: "
        f"{m['owned_gpus']:,} owned {data['gpu']} GPUs seen in "
        f"{w.start:%d %b %Y} to {w.end - timedelta(hours=1):%d %b %Y}."
    )
    st.caption(
        f"Caveats: {m['unmonitored_gpu_hours']:,} GPU-hours unmonitored "
        f"({m['unmonitored_share']:.1%}; in neither utilisation); demand estimated from "
        f"billing alone {dem['estimated_from_billing_gpu_hours']:,} GPU-hours "
        f"({dem['estimated_from_billing_share']:.1%}). "
        + session.FIXED_BASIS.format(what="The measured cloud GPU-hour price")
    )
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
    burst = float(r["burst_price_per_gpu_hour"])
    if math.isfinite(burst) and rec.u_r:  # the price "saves" is measured against, among them
        rent[f"burst at USD {burst:,.2f} ({r['burst_price_source'].split(':')[0]})"] = (
            burst / rec.u_r
        )
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


def render_placement() -> None:
    """Each workload where it runs today against its best other place, data movement in."""
    if not session.has("gpu_hours"):
        return
    s = session.settings()
    table = session.ask(queries_placement.placement_table, s.own_vs_rent, s.flows)
    st.subheader("Where each workload would cost least")
    if table.is_empty():
        st.info("No GPU workload billed in USD has a price in the price book.")
        return
    top = table.row(0, named=True)
    if top["first_year_saving"] > 0:
        moved = (
            "moving its datasets not counted: their size is not set in [flows.datasets]"
            if top["moving_data_once"] is None
            else "data movement included"
        )
        st.markdown(
            f"**{top['workload']}** would cost USD {top['first_year_saving']:,.2f} less in its "
            f"first year on {top['placed_on']}: the largest saving of "
            f"{table.height} workloads ({moved})."
        )
    # the cost there is today's less the saving (data moves aside): the CSV has it, the page
    # keeps to what fits at 1280 px
    drawn = ["workload", "placed_on", "first_year_saving", "annual_cost_today",
             "moving_data_once"]  # fmt: skip
    session.table(table, "USD", show=drawn, csv=("workload placement", "placement.csv"))
    dated = (
        " Prices: the price book; the CSV gives each row's annual cost there and the date of"
        " the price it used."
    )
    st.caption(" ".join(ASSUMPTIONS) + dated)


if session.ready():
    st.title("Own vs rent")
    verdict_slot = st.container()  # the answer first, the inputs it came from below
    render(read(), verdict_slot)
    render_placement()
