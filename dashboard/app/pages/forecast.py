"""Forecast: monthly spend with 80%/95% intervals per provider and AI class; anomalies and
the resources that drove them."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.labels import value_words, words
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
    settings = session.settings().anomaly
    anomalies = session.ask(queries_forecast.anomalies, f, cur, settings)
    out = {"cur": cur, "by": by, "forecast": fc, "anomalies": anomalies, "drivers": None}
    if anomalies.height:
        labels = [
            f"{words(r['dimension'])} {value_words(r['key'])}: {r['start']} to {r['end']} "
            f"(+{session.money(r['excess'], cur)})"
            for r in anomalies.iter_rows(named=True)
        ]
        pick = st.selectbox(
            "Anomaly", range(len(labels)), format_func=labels.__getitem__, key="fc_anomaly"
        )
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


def render(d: dict) -> None:
    fc, label = d["forecast"], session.cost_label(d["cur"])
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
    st.write("Resources that drove the selected anomaly:")
    session.table(d["drivers"], d["cur"])


if session.ready():
    st.title("Forecast")
    render(read())
