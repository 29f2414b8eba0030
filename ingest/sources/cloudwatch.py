"""AWS CloudWatch agent GPU metrics -> telemetry samples (gpu_economics.md B1.3).

The agent's `nvidia_gpu` block publishes `nvidia_smi_utilization_gpu`, `..._memory_used` and
`..._power_draw` in namespace CWAgent with dimensions host, index, name (and InstanceId when
`append_dimensions` adds it). We list the GPUs that have the metrics (ListMetrics), then read
their points with GetMetricData at the agent's interval (`period_s`, 60 s by default) with
the Average statistic, which at that period is the sample itself; the points are reduced to
GPU-hours like nvidia-smi samples. Credentials come from boto3's standard chain only.

What cannot be read as GPU-hours is refused with one message and nothing stored: a metric
with datapoints but without both `host` and a numeric `index` dimension (aggregation
roll-ups), the same GPU under two dimension sets at the same time, values outside their
ranges, no agent GPU metrics in the namespace (the message names the namespaces that have
them) or none in the time range, and a period CloudWatch does not offer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import polars as pl

from ingest.sources.s3 import CHAIN
from ingest.sources.telemetry import SAMPLE, check_samples
from models.errors import ConfigError, InputError, SourceUnavailableError, did_you_mean

NAMESPACE = "CWAgent"
METRICS = {
    "nvidia_smi_utilization_gpu": "util",
    "nvidia_smi_memory_used": "mem_used_mib",
    "nvidia_smi_power_draw": "power_w",
}
BATCH = 500  # GetMetricData accepts at most 500 queries per call


def make_client(region: str, endpoint_url: str | None, profile: str | None):
    if endpoint_url:
        from ingest.sources.s3 import check_endpoint

        check_endpoint(endpoint_url, "[sources.aws] endpoint_url")
    import boto3

    session = boto3.session.Session(profile_name=profile, region_name=region)
    return session.client("cloudwatch", endpoint_url=endpoint_url)


def fetch_samples(
    region: str,
    start: datetime,
    end: datetime,
    *,
    namespace: str = NAMESPACE,
    period_s: int = 60,
    endpoint_url: str | None = None,
    profile: str | None = None,
) -> pl.DataFrame:
    """Checked samples (SAMPLE columns) of every GPU with agent metrics in [start, end)."""
    check_window(start, end, period_s)
    where = f"cloudwatch {region} {namespace}"
    with refusals(where, profile):
        client = make_client(region, endpoint_url, profile)
        queries = _list(client, namespace)
        if not queries:
            raise _nothing_listed(client, region, namespace, where)
        rows = _read(client, queries, start, end, period_s, where)
    if not rows:
        raise InputError(
            "no GPU datapoints in the time range",
            file=where,
            location=f"{start:%Y-%m-%dT%H:%MZ} .. {end:%Y-%m-%dT%H:%MZ}",
            expected=f"datapoints of {len(queries)} listed GPU metric(s) in the range",
            found="none",
            hint="check --start/--end (UTC); CloudWatch keeps 60-second points 15 days, "
            "5-minute points 63 days and hourly points 455 days, so for older ranges give "
            "--period 300 or 3600",
        )
    return _samples(rows, where)


@contextlib.contextmanager
def refusals(where: str, profile: str | None) -> Iterator[None]:
    """CloudWatch's and boto3's failures -> one domain error each, saying what was tried
    (one definition for every CloudWatch reader)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )

    try:
        yield
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise SourceUnavailableError(
            f"CloudWatch refused: {err.get('Code')}: {err.get('Message')}",
            file=where,
            hint=f"credentials come from the {CHAIN}; "
            "check cloudwatch:ListMetrics and cloudwatch:GetMetricData are allowed",
            retryable=err.get("Code") in ("Throttling", "ThrottlingException"),
        ) from None
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise SourceUnavailableError(
            "no usable AWS credentials to read CloudWatch",
            file=where,
            expected="credentials from the chain",
            found=str(exc),
            hint=f"tried the {CHAIN}"
            + (f" with profile {profile!r}" if profile else "")
            + "; set one of them (e.g. `aws configure` or AWS_PROFILE) and run again",
        ) from None
    except ProfileNotFound:
        raise ConfigError(
            f"AWS profile {profile!r} not found",
            file=where,
            expected="a profile in ~/.aws/config or ~/.aws/credentials",
            found=repr(profile),
            hint="fix `profile` in [sources.aws] of finops.toml, or remove it to use the "
            "default chain",
        ) from None
    except BotoCoreError as exc:
        raise SourceUnavailableError(
            f"cannot reach CloudWatch: {exc}",
            file=where,
            hint="check the network and `endpoint_url` in [sources.aws]; retrying may help",
            retryable=True,
        ) from None


def check_window(start: datetime, end: datetime, period_s: int) -> None:
    if end <= start:
        raise InputError(
            "--end must be after --start",
            expected="--start earlier than --end (end exclusive)",
            found=f"{start:%Y-%m-%dT%H:%M:%SZ} .. {end:%Y-%m-%dT%H:%M:%SZ}",
            hint="swap or fix the two times",
        )
    if period_s not in (1, 5, 10, 30) and (period_s <= 0 or period_s % 60):
        raise InputError(
            "--period is not a CloudWatch period",
            expected="1, 5, 10, 30 or a multiple of 60 seconds (the agent's interval, 60 "
            "by default)",
            found=str(period_s),
        )


def _list(client, namespace: str) -> list[tuple[str, dict[str, str], dict]]:
    """(field, dimensions, metric) of every agent GPU metric in the namespace, once each."""
    queries, seen = [], set()
    for name, field in METRICS.items():
        pages = client.get_paginator("list_metrics").paginate(Namespace=namespace, MetricName=name)
        for page in pages:
            for metric in page.get("Metrics", []):
                dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                key = (name, tuple(sorted(dims.items())))
                if key not in seen:  # a listing may repeat a metric
                    seen.add(key)
                    queries.append((field, dims, metric))
    return queries


def _nothing_listed(client, region: str, namespace: str, where: str) -> InputError:
    """No agent GPU metric here: say where they are instead, if anywhere in the region."""
    elsewhere = sorted(
        {
            m["Namespace"]
            for page in client.get_paginator("list_metrics").paginate(
                MetricName="nvidia_smi_utilization_gpu"
            )
            for m in page.get("Metrics", [])
        }
    )
    hint = (
        f"the metrics are in namespace(s) {', '.join(elsewhere[:5])}: give --namespace"
        + did_you_mean(namespace, elsewhere)
        if elsewhere
        else f"check --region; the agent publishes them when its config has an nvidia_gpu "
        f"block (namespace {NAMESPACE} unless it sets another)"
    )
    return InputError(
        f"no CloudWatch agent GPU metrics in namespace {namespace!r}, region {region}",
        file=where,
        expected=", ".join(METRICS),
        found="no such metrics",
        hint=hint,
    )


def metric_data(
    client, metrics: list[dict], start: datetime, end: datetime, period_s: int, stat: str
) -> Iterator[tuple[int, list[datetime], list[float]]]:
    """(index into `metrics`, UTC times, values) of each metric's datapoints in [start, end)
    at `period_s` with statistic `stat`: GetMetricData in batches, every page read."""
    for k in range(0, len(metrics), BATCH):
        batch = metrics[k : k + BATCH]
        spec = [
            {
                "Id": f"q{i}",
                "MetricStat": {"Metric": m, "Period": period_s, "Stat": stat},
                "ReturnData": True,
            }
            for i, m in enumerate(batch)
        ]
        pages = client.get_paginator("get_metric_data").paginate(
            MetricDataQueries=spec, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        )
        for page in pages:
            for result in page.get("MetricDataResults", []):
                if result["Values"]:
                    stamps = [ts.astimezone(UTC) for ts in result["Timestamps"]]
                    yield k + int(result["Id"][1:]), stamps, result["Values"]


def _read(client, queries, start: datetime, end: datetime, period_s: int, where: str):
    rows: list[dict] = []
    metrics = [m for _, _, m in queries]
    # the agent's interval: Average of one sample is the sample itself
    for i, stamps, values in metric_data(client, metrics, start, end, period_s, "Average"):
        field, dims, metric = queries[i]
        identity = _identity(metric["MetricName"], dims, where)
        for ts, value in zip(stamps, values, strict=True):
            rows.append({**identity, "ts": ts, "field": field, "value": value})
    return rows


def _identity(name: str, dims: dict[str, str], where: str) -> dict:
    """The GPU a metric belongs to: its host and index dimensions must both be there."""
    index = dims.get("index", "")
    if not dims.get("host") or not index.isdigit():
        shown = ", ".join(f"{k}={v}" for k, v in sorted(dims.items())) or "none"
        raise InputError(
            f"{name} is not tied to one GPU of one host",
            file=where,
            location=f"metric {name} {{{shown}}}",
            expected="dimensions host and index (a GPU number), as the agent's nvidia_gpu "
            "block publishes them",
            found=f"host={dims.get('host')!r}, index={dims.get('index')!r}",
            hint="roll-ups from aggregation_dimensions cannot be tied to a GPU; read a "
            "namespace of per-GPU metrics (--namespace) or drop the roll-ups from this one",
        )
    return {
        "host": dims["host"],
        "gpu_index": int(index),
        "gpu_model": dims.get("name"),
        "gpu_uuid": dims.get("uuid"),
        "resource_id": dims.get("InstanceId"),
        "dims": ",".join(sorted(dims)),
    }


def _check_one_series_per_gpu(long: pl.DataFrame, where: str) -> None:
    """One GPU's metric under two dimension sets (two agents, or InstanceId appended on one
    of them) gives each time stamp twice: which one is right cannot be told, so say so."""
    twice = long.filter(pl.len().over("host", "gpu_index", "field", "ts") > 1)
    if twice.height:
        row = twice.row(0, named=True)
        sets = sorted(
            set(twice.filter((pl.col("host") == row["host"]) & (pl.col("ts") == row["ts"]))
                ["dims"])
        )  # fmt: skip
        raise InputError(
            f"duplicate datapoints: {twice.height} points of the same GPU and time under "
            f"more than one dimension set; first: host {row['host']}, GPU {row['gpu_index']}, "
            f"{row['ts']:%Y-%m-%dT%H:%M:%SZ}",
            file=where,
            expected="one series per GPU and metric",
            found="dimension sets " + " and ".join(f"{{{d}}}" for d in sets),
            hint="keep one agent configuration per host (same append_dimensions), or read "
            "the two time ranges separately; nothing was stored",
        )


def _samples(rows: list[dict], where: str) -> pl.DataFrame:
    long = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    )
    _check_one_series_per_gpu(long, where)
    ids = ["host", "gpu_uuid", "gpu_index", "gpu_model", "resource_id", "ts"]
    wide = long.pivot(on="field", index=ids, values="value", aggregate_function="first")
    for col in ("util", "mem_used_mib", "power_w"):
        if col not in wide.columns:
            wide = wide.with_columns(pl.lit(None, pl.Float64).alias(col))
    samples = wide.select(
        "ts", "host", "gpu_uuid", "gpu_index", "gpu_model",
        (pl.col("util") / 100).alias("active"),
        pl.when(pl.col("util").is_not_null()).then(pl.lit("gpu_util")).alias("active_metric"),
        "mem_used_mib", "power_w",
        pl.lit(None, pl.String).alias("namespace"),
        pl.lit(None, pl.String).alias("pod"),
        "resource_id",
        pl.lit(where).alias("file"),
        pl.lit(None, pl.Int64).alias("line"),
    ).cast(SAMPLE)  # type: ignore[arg-type]  # fmt: skip
    check_samples(samples, "nvidia_smi_utilization_gpu")
    return samples
