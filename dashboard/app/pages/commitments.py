"""Commitments (finance, CIO): how much of our reservations, savings plans and CUDs we
wasted; utilisation, coverage and unused by commitment and month."""

from __future__ import annotations

from datetime import date

import polars as pl
import streamlit as st

from dashboard.app import charts, session
from dashboard.app.session import money, money_tile, share
from dashboard.queries import commitments as queries_commitments
from dashboard.queries.filters import Filters


def months(f: Filters) -> tuple[date | None, date | None]:
    """The billing periods the date filter touches: [first month start, next month start)."""
    start = f.start.replace(day=1) if f.start else None
    end = None
    if f.end:
        y, m = divmod(f.end.year * 12 + f.end.month, 12)  # the month after f.end's
        end = date(y, m + 1, 1)
    return start, end


def read() -> dict:
    f = session.filters()
    cur = session.currency()
    start, end = months(f)
    summary = session.ask(queries_commitments.summary, start, end, f.providers, cur)
    return {"cur": cur, "summary": summary, "classified": session.has("classified_costs")}


def label() -> pl.Expr:
    """A commitment's display name, else its type and the start of its own id (an AWS ARN
    ends in the plan's or reservation's id)."""
    own_id = pl.col("commitment_id").str.extract(r"([^/:]+)$").str.slice(0, 8)
    return pl.coalesce(
        pl.col("name"), pl.concat_str(pl.col("type"), pl.lit(" "), own_id), pl.col("commitment_id")
    )


def shown(summary: pl.DataFrame, cur: str) -> pl.DataFrame:
    """The table as read (dashboard/labels.py heads it in words with the currency), most
    unused first within a month."""
    return summary.select(
        pl.col("period").alias("month"),
        pl.col("provider"),
        label().alias("commitment"),
        pl.col("type"),
        pl.col("gpu").alias("GPU"),
        pl.col("purchase"),
        pl.col("used"),
        pl.col("unused"),
        pl.col("utilisation"),
        pl.col("coverage"),
        pl.col("savings"),
        pl.col("commitment_id"),
    )


def answer(summary: pl.DataFrame, cur: str) -> str:
    """One sentence: how much of our commitments did we waste?"""
    used = summary["used"].sum() if summary.height else 0
    unused = summary["unused"].sum() if summary.height else 0
    gpu = summary.filter(pl.col("gpu"))["unused"].sum() if summary.height else 0
    committed = (used or 0) + (unused or 0)
    return (
        f"Of {money(committed, cur)} of commitments used or left unused in the period, "
        f"{money(unused, cur)} ({share(unused, committed)}) went unused — paid for, never "
        f"used; {money(gpu, cur)} of that was on GPU commitments."
    )


def render(d: dict) -> None:
    summary, cur = d["summary"], d["cur"]
    if summary.height == 0:
        session.not_yet(
            "Commitments",
            f"no reservation, savings plan or CUD is billed in {cur} in the selected period.",
        )
        return
    st.markdown(f"**{answer(summary, cur)}**")
    a, b, c, e = st.columns(4)
    money_tile(a, "Unused commitment", summary["unused"].sum(), cur)
    money_tile(b, "Used commitment", summary["used"].sum(), cur)
    b_used, b_unused = summary["used"].sum(), summary["unused"].sum()
    c.metric("Utilisation", share(b_used, (b_used or 0) + (b_unused or 0)))
    money_tile(e, "Savings vs on-demand", summary["savings"].sum(), cur)
    st.caption(
        "Used and unused are amortised (EffectiveCost: the commitment spread over the usage it "
        "covered, and the part nobody used); purchase is what the invoice billed. "
        "Utilisation = used / (used + unused). Coverage = used / (used + on-demand compute the "
        "commitment could have covered: same provider, Compute, not spot; for reservations and "
        "RIs the same instance family). Commitments are shared, so team and environment "
        "filters do not apply here."
        + ("" if d["classified"] else " Run `finops classify` to mark GPU commitments.")
    )
    by_month = (
        summary.group_by(pl.col("period").alias("month"), label().alias("key"))
        .agg(pl.col("unused").sum().alias("cost"))
        .sort("month", "key")
    )
    st.plotly_chart(charts.stacked_monthly(by_month, f"Unused commitment by month ({cur})", cur))
    st.subheader("By commitment and month")
    table = shown(summary, cur)
    drawn = [c for c in table.columns if c not in ("provider", "type", "GPU", "commitment_id")]
    session.table(table, cur, csv=("commitments", "commitments.csv"), show=drawn)


if session.ready():
    st.title("Commitments")
    render(read())
