"""Budgets (finance, team leads): each budget's actual to date, its forecast to the period's
end with an interval, and the first day it breaches — from `[budgets]` of finops.toml."""

from __future__ import annotations

import polars as pl
import streamlit as st

from dashboard.app import session
from dashboard.labels import value_words
from dashboard.queries import budgets as queries_budgets
from models.budgets import DIMENSIONS, HORIZON_MONTHS, BudgetStatus

HOW = (
    "Budgets are set in `finops.toml`, e.g.\n\n"
    '```toml\n[budgets]\nteam = { ml-research = "20000" }   # monthly, report currency\n\n'
    '[[budgets.budget]]\nname = "Research GPUs"\namount = "240000"\nperiod = "annual"\n'
    'currency = "USD"\nowner = "maria.lopez@example.com"\nteam = "ml-research"\n'
    'ai_class = "gpu_compute"\n```\n\n'
    "A budget may filter on team, provider, AI class, project, account or a tag "
    '(`tag = "key=value"`).'
)


def read() -> dict:
    settings = session.settings()
    budgets = tuple(settings.budgets.budgets(settings.report.currency))
    basis = session.basis()
    refused = session.ask(queries_budgets.refused, budgets) if budgets else []
    judged = tuple(b for b in budgets if b not in {r for r, _ in refused})
    statuses = session.ask(queries_budgets.statuses, judged, basis) if judged else []
    return {"statuses": statuses, "basis": basis, "refused": refused}


def covers(status: BudgetStatus) -> str:
    """What the budget covers, its codes in words ("AI class GPU compute")."""
    b = status.budget
    if not b.where:
        return f"all spend in {b.currency}"
    return ", ".join(f"{DIMENSIONS[d]} {value_words(v)}" for d, v in b.where)


def sentence(s: BudgetStatus) -> str:
    """One budget in one sentence: spent, forecast, breach — with units and dates."""
    b, cur = s.budget, s.budget.currency
    if s.as_of is None:
        return f"**{b.name}**: no spend in {covers(s)} yet."
    period = s.period_start.strftime("%B %Y") if b.period == "monthly" else str(s.period_start.year)
    owner = f"; owner {b.owner}" if b.owner else ""
    spent = (
        f"**{b.name}** ({covers(s)}; {period}{owner}): {session.money(s.actual, cur)} of "
        f"{session.money(b.amount, cur)} spent by {s.as_of:%d %B %Y}"
        + (f" ({s.used:.1%})" if s.used is not None else "")
    )
    if s.as_of >= s.period_end:
        ahead = "; the period is complete"
    else:
        interval = (
            f" (80% interval {session.money(s.forecast_low, cur)} to "
            f"{session.money(s.forecast_high, cur)})"
            if s.forecast_low is not None
            else ""
        )
        ahead = f"; forecast to {s.period_end:%d %B}: {session.money(s.forecast, cur)}{interval}"
    if s.breach is None:
        end = f" — no breach expected in the next {HORIZON_MONTHS} months."
    elif s.breach <= s.as_of:
        end = f" — **breached on {s.breach:%d %B %Y}**."
    else:
        end = f" — **expected to breach on {s.breach:%d %B %Y}**."
    return spent + ahead + end


def frame(statuses: list[BudgetStatus]) -> pl.DataFrame:
    return pl.DataFrame(
        [
            {
                "budget_name": s.budget.name,
                "covers": covers(s),
                "period": value_words(s.budget.period),
                "owner": s.budget.owner or "–",
                "budget": s.budget.amount,
                "actual": s.actual,
                "forecast": s.forecast,
                "forecast_low": s.forecast_low,
                "forecast_high": s.forecast_high,
                "used_pct": s.used,
                # a date or a dash: an empty date cell would read "None"
                "first_breach": s.breach.isoformat() if s.breach else "–",
                "status": s.verdict().capitalize(),
            }
            for s in statuses
        ],
        schema={
            "budget_name": pl.String, "covers": pl.String, "period": pl.String,
            "owner": pl.String, "budget": pl.Decimal(38, 2), "actual": pl.Decimal(38, 2),
            "forecast": pl.Decimal(38, 2), "forecast_low": pl.Decimal(38, 2),
            "forecast_high": pl.Decimal(38, 2), "used_pct": pl.Float64,
            "first_breach": pl.String, "status": pl.String,
        },
    )  # fmt: skip


# the table's columns at 1440 px (the sentences say the period and owner); the CSV has
# every column, the forecast's interval too
SHOWN = ["budget_name", "covers", "budget", "actual", "forecast", "used_pct", "first_breach",
         "status"]  # fmt: skip


def render(d: dict) -> None:
    statuses: list[BudgetStatus] = d["statuses"]
    for _, why in d.get("refused", []):
        st.error(f"Budget not judged — {why}. Set its currency in finops.toml to the one its "
                 "spend is billed in.")  # fmt: skip
    if not statuses and d.get("refused"):
        return
    if not statuses:
        st.info("No budget is configured yet.")
        st.markdown(HOW)
        return
    as_of = max((s.as_of for s in statuses if s.as_of), default=None)
    st.caption(
        f"{d['basis'].words} to the data's last day ({as_of:%d %B %Y}), whatever the date "
        "and team filters say: a budget names its own scope. The forecast is the Forecast "
        "page's model fitted on each budget's complete months."
        if as_of
        else "No spend in any budget's scope yet."
    )
    over = [s for s in statuses if s.verdict() in ("over budget", "expected to breach")]
    a, b, c = st.columns(3)
    a.metric("Budgets", f"{len(statuses):,}")
    b.metric("Over budget", f"{sum(s.breached for s in statuses):,}")
    c.metric("Expected to breach this period", f"{len(over) - sum(s.breached for s in statuses):,}")
    for s in sorted(statuses, key=lambda s: (s.breach is None, s.breach or s.period_end)):
        st.markdown(sentence(s))
    for cur in sorted({s.budget.currency for s in statuses}):
        st.subheader(f"Budgets in {cur}")
        rows = frame([s for s in statuses if s.budget.currency == cur])
        session.table(rows, cur, show=SHOWN, csv=(f"budgets in {cur}", f"budgets-{cur}.csv"))
    with st.expander("How to set a budget"):
        st.markdown(HOW)


if session.ready():
    st.title("Budgets")
    render(read())
