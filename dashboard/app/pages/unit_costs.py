"""Unit costs (AI leadership, finance): what a million tokens and a thousand predictions cost,
per model and month, self-hosted beside the API; whether serving a model ourselves beats
calling an API, and from which monthly volume; the trend by month; then the costliest
training runs (dashboard/app/training_runs.py). The same table as
`finops unit-costs` (dashboard/queries/unit_costs.py)."""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import streamlit as st

from dashboard.app import charts, session, training_runs
from dashboard.queries import unit_costs as queries
from models.sagemaker import IDLE_UNKNOWN, short_where
from models.sagemaker import KIND as SAGEMAKER
from models.sagemaker import LABEL as SAGEMAKER_LABEL
from models.unit_costs import COST_BASIS, KIND_WORDS


def read() -> dict | None:
    rows = session.ask(queries.unit_costs, None)
    if rows.height == 0:
        return None
    months = rows["month"].unique().sort(descending=True).to_list()
    month = st.columns([1, 3])[0].selectbox("Month", months, index=0, key="unit_month")
    return {"rows": rows, "month": month, "this": rows.filter(pl.col("month") == month)}


def _tokens(frame: pl.DataFrame) -> pl.Expr:
    either = pl.col("input_tokens").is_not_null() | pl.col("output_tokens").is_not_null()
    total = pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)
    return pl.when(either).then(total)


def _count(x: float | None) -> str:
    if x is None:
        return "–"
    for scale, suffix in ((1e9, " billion"), (1e6, " million")):
        if abs(x) >= scale:
            return f"{x / scale:,.1f}{suffix}"
    return f"{x:,.0f}"


def _per(cost: Decimal | None, units: float, scale: int) -> Decimal | None:
    return None if cost is None or not units else cost * scale / Decimal(repr(units))


def sentence(this: pl.DataFrame, month: str) -> str:
    """The page's answer in one sentence: self-hosted cost per 1M tokens, and the verdict of
    the first model with a comparable API."""
    own = this.filter((pl.col("kind") == "self_hosted") & pl.col("cost").is_not_null())
    with_tokens = own.filter(_tokens(own).fill_null(0) > 0)
    parts = []
    for cur in sorted(set(with_tokens["currency"])):
        part = with_tokens.filter(pl.col("currency") == cur)
        tokens = float(part.select(_tokens(part).sum()).item())
        per = _per(part["cost"].sum(), tokens, 1_000_000)
        parts.append(
            f"In {month}, self-hosted models served {_count(tokens)} tokens at "
            f"{session.money(per, cur)} per 1M tokens (GPU-hours, idle included)."
        )
    compared = own.filter(pl.col("api_model").is_not_null())
    for r in compared.sort("cost", descending=True).head(1).iter_rows(named=True):
        cheaper = "self-hosting is cheaper" if r["cost"] <= r["api_cost"] else "the API is cheaper"
        parts.append(
            f"{r['model']} cost {session.money(r['cost'], r['currency'])} on our GPUs; "
            f"{r['api_model']} would have cost {session.money(r['api_cost'], r['currency'])} "
            f"for the same tokens, so {cheaper} at this volume (they break even at "
            f"{_count(r['break_even_tokens'])} tokens a month)."
        )
    parts += _endpoints_sentence(this)
    if not parts:
        return f"In {month}, no self-hosted model served tokens; API usage is below."
    return " ".join(parts)


def _endpoints_sentence(this: pl.DataFrame) -> list[str]:
    """SageMaker endpoints with both a cost and requests: their cost per 1k requests."""
    both = this.filter(
        (pl.col("kind") == SAGEMAKER) & pl.col("cost").is_not_null() & (pl.col("requests") > 0)
    )
    parts = []
    for cur in sorted(set(both["currency"])):
        part = both.filter(pl.col("currency") == cur)
        requests = float(part["requests"].sum())
        per = _per(part["cost"].sum(), requests, 1000)
        parts.append(
            f"{SAGEMAKER_LABEL}s answered {_count(requests)} requests at "
            f"{session.money(per, cur)} per 1k requests (their own cost lines)."
        )
    return parts


def shown(this: pl.DataFrame) -> pl.DataFrame:
    """The month's table: one row per model (and currency), units in words."""
    return this.select(
        pl.col("model"),
        pl.col("kind").replace_strict(KIND_WORDS).alias("how"),
        pl.when(pl.col("kind") == SAGEMAKER)
        .then(short_where(pl.col("where_served")))
        .otherwise(pl.col("where_served"))
        .alias("served_by"),
        "cost",
        "idle_cost",
        pl.col("requests"),
        _tokens(this).alias("tokens"),
        pl.col("cost_per_1k_requests").alias("per_1k_requests"),
        pl.col("cost_per_1m_tokens").alias("per_1m_tokens"),
        pl.col("cost_per_1m_output_tokens").alias("per_1m_output_tokens"),
        pl.col("where_served").alias("served_in_full"),  # the CSV's: region, variants
    )


# drawn on the page, to fit it ("Served by" says API for an API, "SageMaker NAME" for an
# endpoint); the CSV adds requests, the output-only cost and where each was served in full
SHOWN = [
    "model", "served_by", "cost", "idle_cost", "tokens", "per_1k_requests", "per_1m_tokens",
]  # fmt: skip


def render(d: dict | None) -> None:
    if d is None:
        session.not_yet(
            "Unit costs",
            "ingest model-server metrics (`finops ingest serving prometheus URL_OR_FOLDER`, "
            "`finops ingest serving sagemaker --region R --start T --end T`) "
            "or bills whose lines carry token meters (Bedrock, Azure OpenAI, Vertex AI).",
        )
        return
    this, month = d["this"], d["month"]
    st.write(sentence(this, month))
    st.caption(
        f"Money on this page: {COST_BASIS} (amortised), whatever the Cost basis filter says. "
        "Self-hosted: the cost of the GPU-hours of the hosts serving a model; a host serving "
        "several models is split by each hour's requests. API: billed cost over billed tokens."
    )
    tile = session.ask(queries.served_tile)
    a, b, c = st.columns(3)
    if tile is not None and tile["month"] == month:
        a.metric(
            "Cost per 1M tokens served",
            session.money(tile["per_1m"], tile["currency"]),
            help=f"Self-hosted, {month}: {tile['models']} model(s), "
            f"{_count(tile['tokens'])} tokens",
        )
    else:
        a.metric("Cost per 1M tokens served", "–", help="No self-hosted tokens this month")
    own = this.filter((pl.col("kind") == "self_hosted") & pl.col("cost").is_not_null())
    for cur in sorted(set(own["currency"]))[:1]:
        part = own.filter(pl.col("currency") == cur)
        idle = session.money(part["idle_cost"].sum(), cur)
        session.money_tile(b, "Self-hosted serving cost", part["cost"].sum(), cur,
                           note=f"of which idle GPU-hours {idle}")  # fmt: skip
        per_k = _per(part["cost"].sum(), float(part["requests"].sum()), 1000)
        c.metric("Cost per 1k predictions", session.money(per_k, cur),
                 help="Self-hosted, every model: cost over requests served")  # fmt: skip
    st.subheader(f"Cost per unit, {month}")
    for cur in sorted({c for c in this["currency"] if c is not None}):
        part = this.filter(pl.col("currency") == cur)
        session.table(
            shown(part),
            cur,
            csv=("unit costs", f"unit_costs_{month}_{cur}.csv"),
            show=SHOWN,  # fits the page; the CSV has every column
        )
    unpriced = this.filter(pl.col("currency").is_null() & (pl.col("kind") != SAGEMAKER))
    if unpriced.height:
        st.caption(
            f"Served without a billed GPU cost this month: {', '.join(unpriced['model'])} "
            "(hosts not tied to a bill: give `finops ingest telemetry --host-map`)."
        )
    endpoints(this)
    compare(this)
    st.subheader("Cost per 1M tokens by month")
    st.plotly_chart(charts.unit_cost_trend(d["rows"]))


def endpoints(this: pl.DataFrame) -> None:
    """What the SageMaker rows rest on, and the endpoints missing one side."""
    rows = this.filter(pl.col("kind") == SAGEMAKER)
    if rows.height == 0:
        return
    said = [
        f"{SAGEMAKER_LABEL}s: the cost of the cost lines whose resource is the endpoint's ARN "
        f"over its Invocations; no tokens are counted; {IDLE_UNKNOWN}."
    ]
    missing = (
        (pl.col("currency").is_null(), "Invoked with no cost lines this month",
         lambda r: f"{_count(r['requests'])} requests",
         "no line carries the endpoint's ARN: is its account's bill loaded?"),
        (pl.col("currency").is_not_null() & pl.col("requests").is_null(),
         "Billed with no invocations read",
         lambda r: session.money(r["cost"], r["currency"]),
         "`finops ingest serving sagemaker` for its region and months"),
    )  # fmt: skip
    for which, opening, amount, hint in missing:
        named = [f"{r['model']} ({amount(r)})" for r in rows.filter(which).iter_rows(named=True)]
        if named:
            said.append(f"{opening}: {', '.join(named)} ({hint}).")
    st.caption(" ".join(said))


def compare(this: pl.DataFrame) -> None:
    st.subheader("Serve it yourself or call the API")
    rows = this.filter(pl.col("api_model").is_not_null())
    if rows.height == 0:
        st.caption(
            "No self-hosted model this month has a comparable API in the model catalogue "
            "(models/model_catalogue.toml, [[comparables]])."
        )
        return
    for cur in sorted(set(rows["currency"])):
        part = rows.filter(pl.col("currency") == cur)
        table = part.select(
            "model",
            pl.col("api_model").str.replace(r" \(.*\)$", ""),
            pl.col("cost").alias("self_hosted_cost"),
            pl.col("api_cost").alias("api_cost_at_this_volume"),
            pl.col("break_even_tokens").alias("break_even_tokens_a_month"),
            pl.when(pl.col("cost") <= pl.col("api_cost"))
            .then(pl.lit("Self-hosted"))
            .otherwise(pl.lit("API"))
            .alias("cheaper"),
        )
        session.table(table, cur)
    st.caption(
        "Break-even: the monthly tokens at which the API, at the measured input/output mix, "
        "costs what the GPUs cost (paid per GPU-hour whatever the traffic). Prices: "
        + "; ".join(sorted(set(rows["api_price_source"])))
    )


if session.ready():
    st.title("Unit costs")
    render(read())
    training_runs.render(training_runs.read())
