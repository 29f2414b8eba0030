"""SageMaker endpoints: their `Invocations` as hourly serving usage, and their cost per 1k
requests from the cost lines of the endpoint.

CloudWatch publishes `Invocations` (namespace AWS/SageMaker, dimensions EndpointName and
VariantName) as a count per minute; its Sum over a period is the requests sent to the
variant's model in that period. An hour's usage is the Sum of the periods that start in it.
SageMaker does not count tokens, so `prompt_tokens` and `generation_tokens` stay null
(unknown, not zero).

A real-time endpoint bills instance-hours (and its storage and data) on cost lines whose
ResourceId is the endpoint's ARN, `arn:aws:sagemaker:REGION:ACCOUNT:endpoint/NAME`; the ARN
may carry the name in lower case, so an endpoint is matched by region and name whatever the
case. Its cost in a month (EffectiveCost) over its requests is its cost per 1k requests. How
much of that cost was idle is not known: SageMaker reports no per-GPU activity here.

Pure: frames in, frames out; ingest/sources/sagemaker.py reads CloudWatch.
"""

from __future__ import annotations

import re

import polars as pl

from models.errors import InputError
from models.model_catalogue import Catalogue
from models.schema import MONEY
from models.serving import FIELDS, KEY

NAMESPACE = "AWS/SageMaker"
METRIC = "Invocations"
DIMENSIONS = ("EndpointName", "VariantName")
SERVER = "sagemaker"
KIND = "sagemaker_endpoint"  # unit_costs.kind of an endpoint's row
LABEL = "SageMaker endpoint"  # how that kind is shown
SHORT = "SageMaker"  # in a table column at 1440 px, before the endpoint's name
IDLE_UNKNOWN = "idle share not known for SageMaker endpoints (no per-GPU activity is read for them)"

# Invocations' Sums per period: the endpoint, its variant, the period's start and the Sum.
POINTS = {"endpoint": pl.String, "variant": pl.String, "ts": pl.Datetime("us", "UTC"),
          "value": pl.Float64}  # fmt: skip

# An endpoint's ARN: region (1) and name (2). Hosting lines carry it as their ResourceId.
ENDPOINT_NAME = r"[A-Za-z0-9-]+"  # what SageMaker allows in an endpoint's name
ENDPOINT_ARN = rf"^arn:aws[a-z-]*:sagemaker:([a-z0-9-]+):[0-9]{{12}}:endpoint/({ENDPOINT_NAME})$"


def usage(points: pl.DataFrame, region: str, catalogue: Catalogue, where: str) -> pl.DataFrame:
    """Sums of Invocations per period (POINTS) -> serving_usage rows, one per endpoint,
    variant and hour: host is the endpoint, pod its variant, namespace its region, model the
    catalogue's name for the endpoint (else the endpoint's name)."""
    bad = points.filter(~pl.col("value").is_finite() | (pl.col("value") < 0))
    if bad.height:
        r = bad.row(0, named=True)
        raise InputError(
            f"{bad.height} Invocations value(s) that are not a count of requests",
            file=where,
            location=f"endpoint {r['endpoint']}, variant {r['variant']}, {r['ts']:%Y-%m-%dT%H:%MZ}",
            expected="a Sum of Invocations: a finite number >= 0",
            found=repr(r["value"]),
            hint="read the AWS/SageMaker namespace SageMaker publishes; nothing was stored",
        )
    models = {e: catalogue.endpoint_model(e) for e in points["endpoint"].unique()}
    hourly = (
        points.with_columns(pl.col("ts").dt.truncate("1h").alias("hour"))
        .group_by("hour", "endpoint", "variant")
        .agg(pl.col("value").sum().alias("requests"))
    )
    return hourly.select(
        "hour",
        pl.col("endpoint").alias("host"),
        pl.lit(region, pl.String).alias("namespace"),
        pl.col("variant").alias("pod"),
        pl.lit(SERVER).alias("server"),
        pl.col("endpoint").replace_strict(models, return_dtype=pl.String).alias("model"),
        "requests",
        *(pl.lit(None, pl.Float64).alias(f) for f in FIELDS if f != "requests"),
        pl.lit(0, pl.Int64).alias("resets"),
    ).sort(*KEY)


# Per SageMaker endpoint (region and name, any case) and month: the requests of
# `serving_usage` beside the cost (EffectiveCost) of the `cost_lines` whose ResourceId is the
# endpoint's ARN, per currency, read from their sums in `api_usage_parts`. Either side may be
# missing: an endpoint invoked with no cost lines, or billed with no invocations read, keeps
# its row.
ENDPOINT_COSTS_SQL = f"""
WITH invoked AS (
    SELECT strftime(hour, '%Y-%m') AS month, namespace AS region, lower(host) AS key,
           min(host) AS endpoint, string_agg(DISTINCT pod, ', ' ORDER BY pod) AS variants,
           sum(requests) AS requests
    FROM serving_usage WHERE server = '{SERVER}'
    GROUP BY month, region, key
), billed AS (
    SELECT strftime(BillingPeriodStart, '%Y-%m') AS month,
           regexp_extract(ResourceId, '{ENDPOINT_ARN}', 1) AS region,
           lower(regexp_extract(ResourceId, '{ENDPOINT_ARN}', 2)) AS key,
           min(regexp_extract(ResourceId, '{ENDPOINT_ARN}', 2)) AS endpoint,
           BillingCurrency AS currency, sum(EffectiveCost) AS cost
    FROM api_usage_parts  -- the hosting lines' sums per ARN, kept per cost_lines partition
    WHERE ResourceId IS NOT NULL AND regexp_matches(ResourceId, '{ENDPOINT_ARN}')
    GROUP BY month, region, key, currency
)
SELECT coalesce(i.month, b.month) AS month, coalesce(i.region, b.region) AS region,
       coalesce(i.endpoint, b.endpoint) AS endpoint, i.variants, b.currency,
       CAST(b.cost AS DECIMAL(38, 12)) AS cost, i.requests
FROM invoked i FULL OUTER JOIN billed b
  ON i.month = b.month AND i.region = b.region AND i.key = b.key
ORDER BY month, endpoint, currency
"""


def where_served(endpoint: str, region: str, variants: str | None, billed: bool) -> str:
    """An endpoint's `where_served` in words: its name, region, variants, what is missing."""
    said = f"; variants {variants}" if variants else "; no invocations read"
    return f"{LABEL} {endpoint} ({region}{said}{'' if billed else '; no cost lines'})"


def short_where(text: pl.Expr) -> pl.Expr:
    """`where_served` of an endpoint's row (`where_served`) as "SageMaker NAME", the width
    of a table column; the region and variants stay in the full text."""
    name = text.str.extract(rf"^{re.escape(LABEL)} ({ENDPOINT_NAME}) \(")
    return pl.coalesce(pl.concat_str(pl.lit(f"{SHORT} "), name), text)


def endpoint_usage(frame: pl.DataFrame, catalogue: Catalogue) -> pl.DataFrame:
    """ENDPOINT_COSTS_SQL's rows -> the columns models.unit_costs.unit_costs reads: the model
    (the catalogue's name for the endpoint) and where it was served, in words."""
    rows = []
    for r in frame.iter_rows(named=True):
        rows.append(
            {
                "month": r["month"],
                "model": catalogue.endpoint_model(r["endpoint"]),
                "where_served": where_served(
                    r["endpoint"], r["region"], r["variants"], r["currency"] is not None
                ),
                "currency": r["currency"],
                "cost": r["cost"],
                "requests": r["requests"],
                "input_tokens": None,
                "output_tokens": None,
            }
        )
    schema = {"month": pl.String, "model": pl.String, "where_served": pl.String,
              "currency": pl.String, "cost": MONEY,
              "requests": pl.Float64, "input_tokens": pl.Float64,
              "output_tokens": pl.Float64}  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row")
