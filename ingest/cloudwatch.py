"""AWS CloudWatch agent GPU metrics -> telemetry samples (gpu_economics.md B1.3).

The agent's `nvidia_gpu` block publishes `nvidia_smi_utilization_gpu`, `..._memory_used` and
`..._power_draw` in namespace CWAgent with dimensions host, index, name (and InstanceId when
`append_dimensions` adds it). We list the GPUs that have the metrics (ListMetrics), then read
their points with GetMetricData at the agent's interval (`period_s`, 60 s by default) with
the Average statistic, which at that period is the sample itself; the points are reduced to
GPU-hours like nvidia-smi samples. Credentials come from boto3's standard chain only.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from ingest.telemetry import SAMPLE, check_samples
from models.errors import InputError, SourceUnavailableError

NAMESPACE = "CWAgent"
METRICS = {
    "nvidia_smi_utilization_gpu": "util",
    "nvidia_smi_memory_used": "mem_used_mib",
    "nvidia_smi_power_draw": "power_w",
}
BATCH = 500  # GetMetricData accepts at most 500 queries per call


def _client(region: str, endpoint_url: str | None, profile: str | None):
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
    if end <= start:
        raise InputError("--end must be after --start", found=f"{start} .. {end}")
    from botocore.exceptions import BotoCoreError, ClientError

    where = f"cloudwatch {region} {namespace}"
    try:
        client = _client(region, endpoint_url, profile)
        queries, seen = [], set()
        for name, field in METRICS.items():
            pages = client.get_paginator("list_metrics").paginate(
                Namespace=namespace, MetricName=name
            )
            for page in pages:
                for metric in page.get("Metrics", []):
                    dims = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}
                    key = (name, tuple(sorted(dims.items())))
                    if key not in seen:  # a listing may repeat a metric
                        seen.add(key)
                        queries.append((field, dims, metric))
        rows: list[dict] = []
        for k in range(0, len(queries), BATCH):
            batch = queries[k : k + BATCH]
            spec = [
                {
                    "Id": f"q{i}",
                    "MetricStat": {"Metric": m, "Period": period_s, "Stat": "Average"},
                    "ReturnData": True,
                }
                for i, (_, _, m) in enumerate(batch)
            ]
            pages = client.get_paginator("get_metric_data").paginate(
                MetricDataQueries=spec,
                StartTime=start,
                EndTime=end,
                ScanBy="TimestampAscending",
            )
            for page in pages:
                for result in page.get("MetricDataResults", []):
                    field, dims, _ = batch[int(result["Id"][1:])]
                    for ts, value in zip(result["Timestamps"], result["Values"], strict=True):
                        rows.append(
                            {
                                **_identity(dims),
                                "ts": ts.astimezone(UTC),
                                "field": field,
                                "value": value,
                            }
                        )
    except ClientError as exc:
        err = exc.response.get("Error", {})
        raise SourceUnavailableError(
            f"CloudWatch refused: {err.get('Code')}: {err.get('Message')}",
            file=where,
            hint="credentials come from the standard AWS chain (profile, env, instance role); "
            "check cloudwatch:ListMetrics and cloudwatch:GetMetricData are allowed",
            retryable=err.get("Code") in ("Throttling", "ThrottlingException"),
        ) from None
    except BotoCoreError as exc:
        raise SourceUnavailableError(
            f"cannot reach CloudWatch: {exc}", file=where, retryable=True
        ) from None
    return _samples(rows, where)


def _identity(dims: dict[str, str]) -> dict:
    index = dims.get("index")
    return {
        "host": dims.get("host"),
        "gpu_index": int(index) if index and index.isdigit() else None,
        "gpu_model": dims.get("name"),
        "gpu_uuid": dims.get("uuid"),
        "resource_id": dims.get("InstanceId"),
    }


def _samples(rows: list[dict], where: str) -> pl.DataFrame:
    if not rows:
        return pl.DataFrame(schema=SAMPLE)
    long = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("ts").dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    )
    if long["host"].null_count():
        raise InputError(
            "GPU metrics without a host dimension",
            file=where,
            expected="the agent's host dimension on every metric",
        )
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
