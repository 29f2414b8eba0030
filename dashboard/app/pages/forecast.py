"""Forecast: the total in one sentence first (next month and the horizon, with the 80%
interval, and the month each budget is crossed), then monthly spend with 80%/95% intervals
per provider and AI class; anomalies and the resources that drove them."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.labels import value_words, words
from dashboard.queries import budgets as queries_budgets
from dashboard.queries import forecast as queries_forecast
from dashboard.queries import spend as queries
from dashboard.queries.forecast import ANOMALY_DIMENSIONS


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    by = (
        st.segmented_control(
            "Forecast by",
            ["provider", "ai_class"],
            default="provider",
            format_func=words,
            key="fc_by",
        )
        or "provider"
    )
    horizon = st.slider("Months ahead", 1, 12, 6, key="fc_h")
    fc = session.ask(queries_forecast.forecast, f, cur, by, horizon)
    total = session.ask(queries_forecast.total, f, cur, horizon)
    settings_ = session.settings()
    budgets = tuple(
        b for b in settings_.budgets.budgets(settings_.report.currency) if b.currency == cur
    )
    statuses = session.ask(queries_budgets.statuses, budgets, f.basis) if budgets else []
    settings = session.settings().anomaly
    anomalies = session.ask(queries_forecast.anomalies, f, cur, settings)
    out = {"cur": cur, "by": by, "forecast": fc, "anomalies": anomalies, "drivers": None,
           "total": total, "budgets": statuses}  # fmt: skip
    if anomalies.height:
        labels = [
            f"{words(r['dimension'])} {value_words(r['key'])}: {r['start']} to {r['end']} "
            f"(+{session.money(r['excess'], cur)})"
            for r in anomalies.iter_rows(named=True)
        ]
        # None at first: the drivers read the window's line items, seconds on a large
        # warehouse, so they are read when someone asks for one anomaly's.
        pick = st.selectbox(
            "Anomaly",
            range(len(labels)),
            format_func=labels.__getitem__,
            key="fc_anomaly",
            index=None,
            placeholder="Choose an anomaly to see the resources that drove it",
        )
        if pick is None:
            return out
        a = anomalies.row(pick, named=True)
        out["drivers"] = session.ask(
            queries.anomaly_drivers,
            f.basis,
            cur,
            ANOMALY_DIMENSIONS[a["dimension"]],
            a["key"],
            a["start"],
            a["end"],
            settings.window_days,
        )
    return out


CHARTS = 6  # a chart each for the largest; a small SaaS vendor's flat line tells nothing


def _largest_first(fc: pl.DataFrame) -> list[str]:
    """Keys by forecast spend over the horizon, largest first (ties by name)."""
    totals = (
        fc.filter(pl.col("kind") == "forecast")
        .group_by("key")
        .agg(pl.col("spend").sum())
        .sort(["spend", "key"], descending=[True, False], nulls_last=True)
    )
    return totals["key"].to_list()


def story(total: pl.DataFrame, cur: str) -> str | None:
    """The total forecast in one sentence: next month with its 80% interval, then the
    horizon's sum (its bounds summed: wider than the joint interval, never narrower)."""
    ahead = total.filter(pl.col("kind") == "forecast") if total.height else total
    if ahead.height == 0:
        return None
    first = ahead.row(0, named=True)
    interval = (
        f" (80% interval {session.short_money(first['lo80'], cur)} to "
        f"{session.short_money(first['hi80'], cur)})"
        if first["lo80"] is not None
        else ""
    )
    text = (
        f"**Spend forecast for {first['month']:%B %Y}: {session.short_money(first['spend'], cur)}**"
        f"{interval}"
    )
    if ahead.height > 1:
        last = ahead["month"][-1]
        bounds = ""
        if ahead["lo80"].null_count() == 0:
            bounds = (
                f", between {session.short_money(ahead['lo80'].sum(), cur)} and "
                f"{session.short_money(ahead['hi80'].sum(), cur)}"
            )
        text += (
            f"; {session.short_money(ahead['spend'].sum(), cur)} over the {ahead.height} months "
            f"to {last:%B %Y}{bounds}"
        )
    return text + "."


def crossings(statuses: list) -> str | None:
    """The month each budget is (or was) crossed, in one sentence."""
    if not statuses:
        return None
    parts = []
    for s in statuses:
        b = s.budget
        amount = session.short_money(b.amount, b.currency)
        if s.breach is None:
            parts.append(f"{b.name} stays within its {amount}")
        elif s.as_of and s.breach <= s.as_of:
            parts.append(f"{b.name} crossed its {amount} in {s.breach:%B %Y}")
        else:
            parts.append(f"{b.name} is expected to cross its {amount} in {s.breach:%B %Y}")
    return "Budgets: " + "; ".join(parts) + "."


def render(d: dict, top=None) -> None:
    """The page; `top` is where the sentences go (above the inputs, which `read` draws)."""
    fc, label = d["forecast"], session.cost_label(d["cur"])
    told = story(d["total"], d["cur"])
    if told:
        (top or st).markdown(told)
    crossed = crossings(d["budgets"])
    if crossed:
        (top or st).markdown(crossed)
    st.caption(f"Forecasts and anomalies of {label} (Filters: Cost basis).")
    if fc.height == 0:
        st.info("Not enough complete months of spend to forecast yet.")
    else:
        keys = _largest_first(fc)
        cols = st.columns(2)
        for i, key in enumerate(keys[:CHARTS]):
            cols[i % 2].plotly_chart(
                charts.forecast(fc, key, d["cur"], basis=label), key=f"fc_{key}"
            )
        if len(keys) > CHARTS:
            st.caption(
                f"Charts for the {CHARTS} largest by forecast spend; all {len(keys)} are in the "
                "table."
            )
        ahead = fc.filter(fc["kind"] == "forecast").drop("kind").rename({"key": words(d["by"])})
        session.table(ahead, d["cur"])
    st.subheader("Anomalies")
    if d["anomalies"].height == 0:
        st.write("No spend anomaly in the period.")
        return
    session.table(d["anomalies"], d["cur"])
    if d["drivers"] is None:
        st.caption("Choose an anomaly above to list the resources that drove it.")
        return
    st.write("Resources that drove the selected anomaly:")
    session.table(d["drivers"], d["cur"])


if session.ready():
    st.title("Forecast")
    answer_slot = st.container()  # the answer first, the choices it depends on below
    render(read(), answer_slot)
