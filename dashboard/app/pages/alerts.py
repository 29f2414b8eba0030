"""Alerts (everyone who gets them): what `finops watch` fired, whether each reached its
channels, the rule that fired and the view that shows it — from the alert_state table."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import session
from dashboard.queries import alerts as queries_alerts

HOW = (
    "Alerts are evaluated by `finops watch` (run it from cron or a systemd timer) on the "
    "rules of `[alerts]` in `finops.toml`, e.g.\n\n"
    '```toml\n[[alerts.rule]]\nname = "Budgets at risk"\ntype = "budget_forecast"\n'
    'lead_days = 30\n\n[[alerts.channel]]\nname = "team-slack"\ntype = "slack"\n'
    'url_env = "FINOPS_SLACK_WEBHOOK"\n```\n\n'
    "Rule types: `budget_forecast`, `budget_breached`, `anomaly`, `idle_episode`, "
    "`commitment`, `data_gap`. Channels: `slack`, `webhook`, `email`, `stdout`."
)
SEVERITY = {"critical": "Critical", "warning": "Warning", "info": "Info"}


def read() -> dict:
    return {
        "recent": session.ask(queries_alerts.recent),
        "open": session.ask(queries_alerts.open_conditions),
    }


def sentence(recent: pl.DataFrame, open_: pl.DataFrame) -> str:
    """The page's answer: how many conditions hold, how bad, whether they were delivered."""
    if not open_.height:
        return f"No alert condition holds now; {recent.height:,} fired before, all resolved."
    counts = dict(open_["severity"].value_counts().iter_rows())
    kinds = ", ".join(f"{counts[s]:,} {s}" for s in SEVERITY if counts.get(s))  # worst first
    failed = recent.filter(pl.col("status") == "delivery failed").height
    n = open_.height
    said = f"**{n:,} alert condition{'s hold' if n != 1 else ' holds'}** ({kinds})"
    said += f"; **{failed:,} not delivered** — see the delivery column" if failed else "."
    return said + ("" if failed else " Every alert reached its channels.")


def shown(recent: pl.DataFrame) -> pl.DataFrame:
    return recent.select(
        pl.col("fired_at").alias("fired"),
        pl.col("severity").replace_strict(SEVERITY, default=pl.col("severity")),
        "rule",
        pl.col("title").alias("alert"),
        "status",
        "delivery",
        pl.col("link").alias("view"),
    )


def render(d: dict) -> None:
    recent, open_ = d["recent"], d["open"]
    if not recent.height:
        st.info("No alert has fired yet.")
        st.markdown(HOW)
        return
    st.markdown(sentence(recent, open_))
    a, b, c = st.columns(3)
    a.metric("Open alert conditions", f"{open_.height:,}")
    b.metric("Alerts sent", f"{recent.filter(pl.col('status') == 'sent').height:,}")
    c.metric("Delivery failed", f"{recent.filter(pl.col('status') == 'delivery failed').height:,}")
    st.subheader("Recent alerts")
    st.dataframe(
        shown(recent),
        hide_index=True,
        column_config={
            "fired": st.column_config.DatetimeColumn("Fired (UTC)", format="YYYY-MM-DD HH:mm"),
            "severity": "Severity",
            "rule": "Rule",
            "alert": st.column_config.TextColumn("Alert", width="large"),
            "status": "Status",
            "delivery": "Delivery by channel",
            "view": st.column_config.LinkColumn("View", display_text="Open"),
        },
    )
    with st.expander("How alerts are set up"):
        st.markdown(HOW)


if session.ready():
    st.title("Alerts")
    render(read())
