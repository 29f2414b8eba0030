"""Cost per unit served, per model and month: self-hosted beside the API.

Self-hosted: a model's cost in a month is the cost of the GPU-hours of the hosts serving it
(`gpu_hours`: owned or rented, at each GPU-hour's cost), idle GPU-hours included and their
cost shown apart. A host-hour is attributed to the models that served on it in that hour
(`serving_usage`); a host serving several models splits each hour's cost by the requests
each served in that hour (equally when none was served). Hours a host was billed but served
no model are not attributed to any model.

API: the billed cost (EffectiveCost, the amortised basis) of the cost lines the model
catalogue names, over the tokens and requests their quantities count.

SageMaker endpoint (models/sagemaker.py): the cost lines of the endpoint's ARN over its
Invocations; tokens are not counted and the idle share is not known.

Each is divided by requests (per 1k) and by tokens (per 1M, input+output and output only).
Costs in different currencies are separate rows, never added.

"Serve it yourself or call the API": for a self-hosted model with a comparable API price,
the API's cost at the measured volume and token mix, and the break-even volume — the monthly
tokens at which the API would cost what the self-hosted GPUs cost, taking that cost as fixed
for the month (it is paid per GPU-hour whatever the traffic).
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from models.errors import InputError
from models.model_catalogue import Catalogue, unit_scale
from models.sagemaker import KIND as SAGEMAKER_KIND
from models.sagemaker import LABEL as SAGEMAKER_LABEL
from models.sagemaker import SERVER as SAGEMAKER_SERVER
from models.schema import COST_LINES, MONEY, Column, Table

COST_BASIS = "EffectiveCost"
# how each kind of row is named on every face (page, pack, chart)
KIND_WORDS = {"self_hosted": "Self-hosted", "api": "API", SAGEMAKER_KIND: SAGEMAKER_LABEL}
MILLION = Decimal(1_000_000)

UNIT_COSTS = Table(
    "unit_costs",
    (
        Column("month", "string", False, doc="YYYY-MM"),
        Column("model", "string", False),
        Column("kind", "string", False, allowed=tuple(KIND_WORDS)),
        Column("where_served", "string", False, doc="server and hosts, the API, or the endpoint"),
        Column("currency", "string", doc="null: served with no billed cost"),
        Column("cost", "decimal", doc="cost of the month (GPU-hours or billed API lines)"),
        Column("idle_cost", "decimal", doc="self-hosted: cost of idle GPU-hours within cost"),
        Column("gpu_hours", "float", doc="self-hosted: GPU-hours attributed to the model"),
        Column("requests", "float"),
        Column("input_tokens", "float"),
        Column("output_tokens", "float"),
        Column("cost_per_1k_requests", "decimal"),
        Column("cost_per_1m_tokens", "decimal", doc="per 1M input+output tokens"),
        Column("cost_per_1m_output_tokens", "decimal"),
        Column("api_model", "string", doc="self-hosted: the comparable API model"),
        Column("api_cost", "decimal", doc="what the API would cost at this volume and mix"),
        Column("break_even_tokens", "float", doc="monthly tokens where the API costs as much"),
        Column("api_price_source", "string"),
    ),
)

# The self-hosted cost of each model and month, from `serving_usage`, `gpu_hours` and
# `gpu_util` (registered as relations under these names): a serving host is found in
# gpu_hours by the resource its telemetry maps to, else by its name. Shares keep 12 decimals.
# SageMaker endpoints are costed from their own cost lines (models/sagemaker.py), not here.
SELF_HOSTED_SQL = f"""
WITH served AS (
    SELECT hour, host, model, min(server) AS server, sum(requests) AS requests,
           sum(prompt_tokens) AS prompt_tokens, sum(generation_tokens) AS generation_tokens
    FROM serving_usage WHERE server <> '{SAGEMAKER_SERVER}' GROUP BY hour, host, model
), shares AS (
    SELECT *, CASE WHEN sum(requests) OVER w > 0 THEN requests / sum(requests) OVER w
                   ELSE 1.0 / count(*) OVER w END AS share
    FROM served WINDOW w AS (PARTITION BY hour, host)
), resource_host AS (  -- telemetry ties a host to its billed resource (host map)
    SELECT resource_id, min(host) AS host FROM gpu_util
    WHERE resource_id IS NOT NULL AND host IN (SELECT DISTINCT host FROM served)
    GROUP BY resource_id
), host_hours AS (
    SELECT g.hour, coalesce(r.host, g.host) AS host, g.currency, sum(g.cost) AS cost,
           sum(g.idle_cost) AS idle_cost, count(*) AS gpu_hours
    FROM gpu_hours g LEFT JOIN resource_host r ON r.resource_id = g.resource_id
    WHERE coalesce(r.host, g.host) IN (SELECT DISTINCT host FROM served)
    GROUP BY g.hour, coalesce(r.host, g.host), g.currency
)
SELECT strftime(s.hour, '%Y-%m') AS month, s.model,
       min(s.server) || ' on ' || string_agg(DISTINCT s.host, ', ' ORDER BY s.host)
           AS where_served,
       h.currency,
       CAST(sum(h.cost * CAST(s.share AS DECIMAL(38, 12))) AS DECIMAL(38, 12)) AS cost,
       CAST(sum(h.idle_cost * CAST(s.share AS DECIMAL(38, 12))) AS DECIMAL(38, 12))
           AS idle_cost,
       sum(h.gpu_hours * s.share) AS gpu_hours,
       sum(s.requests) AS requests, sum(s.prompt_tokens) AS input_tokens,
       sum(s.generation_tokens) AS output_tokens
FROM shares s LEFT JOIN host_hours h ON h.hour = s.hour AND h.host = s.host
GROUP BY month, s.model, h.currency
"""

# The columns of cost lines the API side reads.
API_LINE_COLUMNS = (
    "x_UsageType", "ServiceName", "ChargeDescription", "PricingQuantity", "PricingUnit",
    "ConsumedQuantity", "ConsumedUnit", "EffectiveCost", "BillingCurrency", "BillingPeriodStart",
    "x_SourceFile",
)  # fmt: skip


# The cost lines the model catalogue's meters can name (their patterns joined:
# `meters_sql_filter`), summed per meter text, unit, billing period, currency and source file;
# kept per cost_lines partition (ingest/derive/api_usage.py), so that unit_costs reads a few
# rows a partition, never every cost line. `api_usage` takes these rows as it takes lines:
# a group's quantities and cost are the sums of its lines', and its text and unit are theirs.
_SUMMED = {"PricingQuantity", "ConsumedQuantity", "EffectiveCost"}
API_USAGE_PARTS = Table(
    "api_usage_parts",
    (
        *(
            COST_LINES.column(c)
            if c not in _SUMMED
            else Column(c, "decimal", doc=f"sum of the lines' {c}")
            for c in API_LINE_COLUMNS
        ),
        Column(
            "ResourceId",
            "string",
            doc="a SageMaker endpoint's ARN on the sums of its hosting lines (EffectiveCost, "
            "per currency and month: models.sagemaker.ENDPOINT_COSTS_SQL); null on the "
            "meters' sums",
        ),
        Column("lines", "int", False, doc="cost lines summed"),
    ),
)


def meter_text() -> pl.Expr:
    """What a meter's pattern is matched against (one definition)."""
    return pl.concat_str(
        [pl.col(c).fill_null("") for c in ("x_UsageType", "ServiceName", "ChargeDescription")],
        separator=" | ",
    )


def meters_sql_filter(catalogue: Catalogue) -> str:
    """A regex matching any meter: lets the warehouse read only the lines that can match."""
    return "|".join(f"(?:{m.pattern})" for m in catalogue.meters) or "$^"


def api_usage(
    lines: pl.DataFrame, catalogue: Catalogue, skipped: list[InputError] | None = None
) -> pl.DataFrame:
    """Cost lines -> per month, API model and currency: billed cost, tokens and requests.

    The first meter whose pattern matches a line names its model and what its quantity
    counts; the line's unit (PricingUnit, else ConsumedUnit) says the scale. A unit that
    counts no tokens or requests is refused, or, given `skipped`, its lines are left out and
    the refusal appended there (the refresh after a load: lines already stored must not stop
    every later ingest)."""
    if lines.height == 0 or not catalogue.meters:
        return _api_frame([])
    text = lines.with_columns(meter_text().alias("_text"))
    which = pl.lit(None, pl.Int64)
    for i in reversed(range(len(catalogue.meters))):
        which = (
            pl.when(pl.col("_text").str.contains(catalogue.meters[i].pattern))
            .then(i)
            .otherwise(which)
        )
    matched = text.with_columns(which.alias("_meter")).filter(pl.col("_meter").is_not_null())
    matched = matched.with_columns(
        pl.when(pl.col("PricingUnit").is_not_null())
        .then(pl.col("PricingQuantity"))
        .otherwise(pl.col("ConsumedQuantity"))
        .alias("_qty"),
        pl.coalesce("PricingUnit", "ConsumedUnit").alias("_unit"),
    )
    scales = {}
    for (i, unit, file), in_file in matched.group_by("_meter", "_unit", "x_SourceFile"):
        meter = catalogue.meters[int(i)]  # type: ignore[arg-type]
        where = f"{file or 'cost_lines'} ({in_file['_text'][0]})"
        try:
            scales[(i, unit)] = unit_scale(unit, meter.counts, where)  # type: ignore[arg-type]
        except InputError as refused:
            if skipped is None:
                raise
            skipped.append(refused)
    # summed per meter, unit, month and currency first: a bill holds millions of token lines
    # and a few hundred such groups (exact: Decimal sums, the scale applied to each sum)
    groups = matched.group_by(
        "_meter",
        "_unit",
        pl.col("BillingPeriodStart").dt.strftime("%Y-%m").alias("_month"),
        "BillingCurrency",
    ).agg(pl.col("_qty").fill_null(0).sum(), pl.col("EffectiveCost").fill_null(0).sum())
    rows: dict[tuple, dict] = {}
    for r in groups.sort("_month", "_meter", "_unit", "BillingCurrency").iter_rows(named=True):
        if (r["_meter"], r["_unit"]) not in scales:
            continue  # a unit refused above and skipped
        meter = catalogue.meters[r["_meter"]]
        qty = Decimal(r["_qty"] or 0) * scales[(r["_meter"], r["_unit"])]
        key = (r["_month"], meter.model, r["BillingCurrency"])
        acc = rows.setdefault(
            key, {"cost": Decimal(0), "input_tokens": None, "output_tokens": None, "requests": None}
        )
        acc["cost"] += Decimal(r["EffectiveCost"] or 0)
        field = {"tokens": "input_tokens"}.get(meter.counts, meter.counts)
        acc[field] = (acc[field] or Decimal(0)) + qty
    return _api_frame(
        [{"month": k[0], "model": k[1], "currency": k[2], **v} for k, v in sorted(rows.items())]
    )


def _api_frame(rows: list[dict]) -> pl.DataFrame:
    schema = {
        "month": pl.String, "model": pl.String, "currency": pl.String, "cost": MONEY,
        "input_tokens": pl.Float64, "output_tokens": pl.Float64, "requests": pl.Float64,
    }  # fmt: skip
    out = [{**r, **{k: None if r[k] is None else float(r[k]) for k in
            ("input_tokens", "output_tokens", "requests")}} for r in rows]  # fmt: skip
    return pl.DataFrame(out, schema=schema, orient="row")


def _per(cost: Decimal | None, units: float | None, scale: Decimal) -> Decimal | None:
    if cost is None or not units:
        return None
    return (cost * scale / Decimal(repr(units))).quantize(Decimal("0.000000000001"))


def unit_costs(
    self_hosted: pl.DataFrame,
    api: pl.DataFrame,
    catalogue: Catalogue,
    endpoints: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Each side -> UNIT_COSTS rows: unit costs, and for self-hosted models with a comparable
    API price, the API's cost at the same volume and the break-even volume. `endpoints`:
    SageMaker endpoints (models.sagemaker.endpoint_usage), idle cost unknown (null)."""
    rows = []
    for r in self_hosted.iter_rows(named=True):
        rows.append(_row(r, "self_hosted", r["where_served"], catalogue))
    for r in api.iter_rows(named=True):
        rows.append(_row({**r, "idle_cost": None, "gpu_hours": None}, "api", "API", catalogue))
    for r in endpoints.iter_rows(named=True) if endpoints is not None else ():
        unknown = {"idle_cost": None, "gpu_hours": None}
        rows.append(_row({**r, **unknown}, SAGEMAKER_KIND, r["where_served"], catalogue))
    frame = pl.DataFrame(rows, schema=UNIT_COSTS.polars_schema, orient="row")
    return frame.sort("month", "kind", "model", "currency", nulls_last=True)


def _row(r: dict, kind: str, where: str, catalogue: Catalogue) -> dict:
    cost = r["cost"]
    tokens_in, tokens_out = r["input_tokens"], r["output_tokens"]
    tokens = (
        None if tokens_in is None and tokens_out is None else (tokens_in or 0) + (tokens_out or 0)
    )
    out = {
        "month": r["month"], "model": r["model"], "kind": kind, "where_served": where,
        "currency": r["currency"], "cost": cost, "idle_cost": r["idle_cost"],
        "gpu_hours": r["gpu_hours"], "requests": r["requests"], "input_tokens": tokens_in,
        "output_tokens": tokens_out,
        "cost_per_1k_requests": _per(cost, r["requests"], Decimal(1000)),
        "cost_per_1m_tokens": _per(cost, tokens, MILLION),
        "cost_per_1m_output_tokens": _per(cost, tokens_out, MILLION),
        "api_model": None, "api_cost": None, "break_even_tokens": None, "api_price_source": None,
    }  # fmt: skip
    price = catalogue.comparable(r["model"]) if kind == "self_hosted" else None
    if price is not None and tokens and cost is not None and r["currency"] == price.currency:
        api_cost = (
            Decimal(repr(tokens_in or 0)) * price.input_per_1m
            + Decimal(repr(tokens_out or 0)) * price.output_per_1m
        ) / MILLION
        per_token = api_cost / Decimal(repr(tokens))  # at the measured input/output mix
        out |= {
            "api_model": f"{price.model} ({price.provider}, {price.region}, {price.tier})",
            "api_cost": api_cost.quantize(Decimal("0.000000000001")),
            "break_even_tokens": float(cost / per_token) if per_token > 0 else None,
            "api_price_source": f"{price.source}; as of {price.as_of:%Y-%m-%d}",
        }
    return out


def check_model_filter(model: str | None, known: list[str]) -> None:
    """`--model M` must name a model the warehouse has unit costs for."""
    if model is not None and model not in known:
        from models.errors import did_you_mean

        raise InputError(
            f"no unit costs for model {model!r}{did_you_mean(model, known)}",
            expected=f"one of {', '.join(sorted(known)) or '(none: ingest serving metrics)'}",
        )
