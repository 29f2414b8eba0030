"""Model servers' request and token counters -> hourly serving usage (the `serving_usage` table).

Model servers export cumulative counters (vLLM, NVIDIA Triton, Hugging Face TGI); Prometheus
keeps their samples. A counter only grows until its process restarts, when it starts again
from zero. The usage of an hour is therefore, per series, the sum of the increases between
consecutive samples, where a drop means a reset and the sample after it counts from zero —
what PromQL's `increase()` adds up, without its extrapolation to the window's edges. Each
increase belongs to the hour of the later sample, so the hours of a month add up to the
counter's whole growth over it and nothing is counted twice.

Pure: frames in, frames out; the readers (ingest/sources/serving.py) do the I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from models.errors import InputError
from models.schema import Column, Table


@dataclass(frozen=True)
class Counter:
    server: str  # vllm | triton | tgi | sagemaker
    field: str  # requests | prompt_tokens | generation_tokens
    model_labels: tuple[str, ...]  # the label naming the model, first present wins


# metric name -> what it counts. One definition: the readers and the docs use this table.
COUNTERS: dict[str, Counter] = {
    "vllm:request_success_total": Counter("vllm", "requests", ("model_name",)),
    "vllm:prompt_tokens_total": Counter("vllm", "prompt_tokens", ("model_name",)),
    "vllm:generation_tokens_total": Counter("vllm", "generation_tokens", ("model_name",)),
    "nv_inference_request_success": Counter("triton", "requests", ("model",)),
    "tgi_request_success": Counter("tgi", "requests", ("model_id", "model", "model_name")),
    "tgi_request_input_length_sum": Counter(
        "tgi", "prompt_tokens", ("model_id", "model", "model_name")
    ),
    "tgi_request_generated_tokens_sum": Counter(
        "tgi", "generation_tokens", ("model_id", "model", "model_name")
    ),
}
FIELDS = ("requests", "prompt_tokens", "generation_tokens")
# the host a series ran on: node exporters' and Kubernetes' labels first, the scrape target
# (host:port) last
HOST_LABELS = ("Hostname", "hostname", "host", "node", "kubernetes_node", "instance")
POD_LABELS = ("pod", "exported_pod", "kubernetes_pod_name")
NAMESPACE_LABELS = ("namespace", "exported_namespace", "kubernetes_namespace")

# A SageMaker endpoint's rows (models/sagemaker.py): host is the endpoint's name, namespace
# its region, pod its production variant, model the model catalogue's [[endpoints]] name (else
# the endpoint's), requests its Invocations (InvokeEndpoint requests sent); tokens are null:
# unknown, not zero.
SERVING_USAGE = Table(
    "serving_usage",
    (
        Column("hour", "datetime", False, doc="start of the UTC hour"),
        Column("host", "string", False, doc="host serving (Hostname/node label, else instance)"),
        Column("namespace", "string", doc="Kubernetes namespace; SageMaker: the region"),
        Column("pod", "string", doc="Kubernetes pod; SageMaker: the production variant"),
        Column("server", "string", False, allowed=("vllm", "triton", "tgi", "sagemaker")),
        Column("model", "string", False, doc="model name as the server labels it"),
        Column("requests", "float", False, doc="successful requests in the hour"),
        Column("prompt_tokens", "float", doc="input tokens in the hour (null: not counted)"),
        Column("generation_tokens", "float", doc="output tokens in the hour (null: not counted)"),
        Column("resets", "int", False, doc="counter resets (server restarts) seen in the hour"),
        Column("source", "string", False, allowed=("prometheus", "cloudwatch")),
        Column("x_LoadId", "string", False),
    ),
)
KEY = ("hour", "host", "namespace", "pod", "server", "model")

# One series' samples: the labels that identify it, the time (epoch seconds) and the value.
POINTS = {
    "series": pl.Int64,  # an id per series (metric name and all labels)
    "host": pl.String,
    "namespace": pl.String,
    "pod": pl.String,
    "server": pl.String,
    "model": pl.String,
    "field": pl.String,
    "ts": pl.Float64,
    "value": pl.Float64,
    "file": pl.String,
}


def first_label(metric: dict[str, str], names: tuple[str, ...]) -> str | None:
    return next((metric[k] for k in names if metric.get(k)), None)


def host_of(metric: dict[str, str]) -> str | None:
    """The host a series ran on; a scrape target's port is not part of the host's name."""
    name = first_label(metric, HOST_LABELS[:-1])
    if name:
        return name
    target = metric.get("instance")
    if not target:
        return None
    if target.startswith("["):  # [v6::addr]:port
        return target[1 : target.index("]")] if "]" in target else target
    return target.rsplit(":", 1)[0] if target.count(":") == 1 else target


def check_points(points: pl.DataFrame, over: tuple[str, ...] = ("series",)) -> None:
    """Counters are not negative, and each series' times strictly increase (in the order
    given, within each group `over`)."""
    step = points.with_columns((pl.col("ts") - pl.col("ts").shift(1).over(over)).alias("_dt"))
    checks = [
        (
            pl.col("value") < 0,
            "negative counter value",
            "a counter (0 or more; it only grows until its server restarts)",
            lambda r: f"{r['value']:g}",
            "save answers of the counters themselves (not rate() or deriv())",
        ),
        (
            pl.col("_dt") <= 0,
            "time does not increase within a series",
            "each series' samples in strictly increasing time, once each",
            lambda r: f"a sample {-r['_dt']:g} s before or at the one before it",
            "a query_range answer is in time order; was the file edited or joined?",
        ),
    ]
    for mask, message, expected, found, hint in checks:
        bad = step.filter(mask)
        if bad.height:
            r = bad.row(0, named=True)
            raise InputError(
                f"{message} in {bad.height} sample(s)",
                file=r["file"],
                location=f"{r['field']} of model {r['model']} on {r['host']} at ts {r['ts']:g}",
                expected=expected,
                found=found(r),
                hint=f"{hint} Nothing was stored.",
            )


def hourly_increases(points: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Samples of counters (POINTS, each series in time order) -> increase per series-hour.

    Between consecutive samples of a series the increase is the difference, or the later
    value itself where the counter dropped (a reset: it counted from zero). The first sample
    of a series starts it: its value is growth from before what we were given."""
    prev = pl.col("value").shift(1).over("series")
    delta = (
        pl.when(prev.is_null())
        .then(0.0)
        .when(pl.col("value") >= prev)
        .then(pl.col("value") - prev)
        .otherwise(pl.col("value"))
    )
    reset = (prev.is_not_null() & (pl.col("value") < prev)).cast(pl.Int64)
    return (
        points.lazy()
        .with_columns(delta.alias("inc"), reset.alias("reset"))
        .with_columns(
            pl.from_epoch((pl.col("ts") * 1_000_000).round().cast(pl.Int64), time_unit="us")
            .dt.replace_time_zone("UTC")
            .dt.truncate("1h")
            .alias("hour")
        )
    )


def usage(points: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Samples of counters -> serving usage per hour, host/pod, server and model (KEY).

    A series that starts in an hour (a server started, a model was moved here) gives that
    hour a row of zero growth: the hour was served. Counters a server does not have (Triton
    counts no tokens) stay null, never zero."""
    inc = hourly_increases(points)
    per_field = inc.group_by(*KEY, "field").agg(
        pl.col("inc").sum().alias("inc"), pl.col("reset").sum().alias("resets")
    )
    wide = per_field.collect().pivot(on="field", index=list(KEY), values="inc")
    resets = per_field.group_by(KEY).agg(pl.col("resets").sum())
    for f in FIELDS:
        if f not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(f))
    return (
        wide.lazy()
        .join(resets, on=list(KEY), how="left", nulls_equal=True)
        .with_columns(pl.col("requests").fill_null(0.0))
        .select(*KEY, *FIELDS, "resets")
        .sort(*KEY)
    )
