"""GPU telemetry -> `gpu_util`: one row per GPU per UTC hour, whatever the collector.

Readers (prometheus.py, nvidia_smi.py, cloudwatch.py) turn their input into *samples* — one
row per GPU per sample time, columns SAMPLE — and this module checks them, reduces them to
hourly *partials* (sums, counts, maxima: partials of the same GPU-hour from several files
combine exactly) and finishes them into GPU-hours. A GPU-hour exists only where samples do,
and `samples` says how many, so a gap in collection shows as unmonitored rather than idle.

Activity is a fraction 0-1: DCGM_FI_PROF_GR_ENGINE_ACTIVE as is (preferred), GPU utilisation
percentages (DCGM_FI_DEV_GPU_UTIL, nvidia-smi utilization.gpu, CloudWatch
nvidia_smi_utilization_gpu) divided by 100.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from ingest.warehouse.load_contract import HourlyLoad
from models.errors import InputError
from models.schema import UTC_TS

SAMPLE = {
    "ts": UTC_TS,
    "host": pl.String,
    "gpu_uuid": pl.String,
    "gpu_index": pl.Int64,
    "gpu_model": pl.String,
    "active": pl.Float64,  # fraction 0-1
    "active_metric": pl.String,  # gr_engine_active | gpu_util
    "mem_used_mib": pl.Float64,
    "power_w": pl.Float64,
    "namespace": pl.String,
    "pod": pl.String,
    "resource_id": pl.String,  # when the source names the billed resource (instance id)
    "file": pl.String,
    "line": pl.Int64,
}
KEY = ("hour", "host", "gpu_uuid", "gpu_index")
__all__ = ["HourlyLoad", "check_samples", "empty_samples", "finish", "partials"]


def empty_samples() -> pl.DataFrame:
    return pl.DataFrame(schema=SAMPLE)


def check_samples(samples: pl.DataFrame, what: str = "activity") -> None:
    """Reject impossible values and duplicate samples, naming the first offending row."""
    checks = [
        (
            (pl.col("active") > 1) | (pl.col("active") < 0),
            f"{what} outside 0-100%",
            "values between 0 and 100 (%), or 0-1 for GR_ENGINE_ACTIVE",
            "active",
        ),
        (pl.col("mem_used_mib") < 0, "negative memory used", "MiB >= 0", "mem_used_mib"),
        (pl.col("power_w") < 0, "negative power draw", "watts >= 0", "power_w"),
        (
            pl.struct("host", "gpu_uuid", "gpu_index", "ts").is_duplicated(),
            "duplicate sample (same GPU, same time twice)",
            "one sample per GPU per time stamp",
            "ts",
        ),
    ]
    for mask, message, expected, column in checks:
        bad = samples.filter(mask)
        if bad.height:
            row = bad.row(0, named=True)
            found = row[column]
            if column == "active":
                found = f"{found * 100:g}%"
            gpu = row["gpu_uuid"] or f"GPU {row['gpu_index']}"
            raise InputError(
                f"{message} in {bad.height} sample(s); first: host {row['host']}, {gpu}, "
                f"{row['ts']:%Y-%m-%dT%H:%M:%SZ}",
                file=row["file"],
                location=None if row["line"] is None else f"line {row['line']}",
                expected=expected,
                found=str(found),
                hint="fix or remove the samples and run again; nothing was stored",
            )


def partials(samples: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """Samples -> per GPU-hour sums, counts and maxima (combinable across files)."""
    a = pl.col("active")
    return (
        samples.lazy()
        .with_columns(pl.col("ts").dt.truncate("1h").alias("hour"))
        .group_by(KEY)
        .agg(
            pl.col("gpu_model").drop_nulls().first(),
            a.count().alias("n"),
            a.sum().alias("s"),
            a.max().alias("mx"),
            pl.col("active_metric").drop_nulls().max().alias("metric"),
            pl.col("mem_used_mib").max().alias("mem"),
            pl.col("power_w").sum().alias("p_sum"),
            pl.col("power_w").count().alias("p_n"),
            pl.col("namespace").drop_nulls().first(),
            pl.col("pod").drop_nulls().first(),
            pl.col("resource_id").drop_nulls().first(),
        )
    )


def finish(parts: pl.LazyFrame | Iterable[pl.LazyFrame]) -> pl.LazyFrame:
    """Combine partials into GPU-hours (gpu_util columns without source/load/resource map)."""
    frame = parts if isinstance(parts, pl.LazyFrame) else pl.concat(list(parts))
    return (
        frame.group_by(KEY)
        .agg(
            pl.col("gpu_model").drop_nulls().first(),
            pl.col("n").sum(),
            pl.col("s").sum(),
            pl.col("mx").max(),
            pl.col("metric").drop_nulls().max(),
            pl.col("mem").max(),
            pl.col("p_sum").sum(),
            pl.col("p_n").sum(),
            pl.col("namespace").drop_nulls().first(),
            pl.col("pod").drop_nulls().first(),
            pl.col("resource_id").drop_nulls().first(),
        )
        .select(
            *KEY,
            "gpu_model",
            "resource_id",
            pl.when(pl.col("n") > 0).then(pl.col("s") / pl.col("n")).alias("avg_active"),
            pl.col("mx").alias("max_active"),
            pl.col("metric").alias("active_metric"),
            pl.col("mem").alias("max_mem_used_mib"),
            pl.when(pl.col("p_n") > 0).then(pl.col("p_sum") / pl.col("p_n")).alias("avg_power_w"),
            pl.lit(None, pl.Float64).alias("energy_kwh"),
            pl.col("n").alias("samples"),
            "namespace",
            "pod",
        )
    )
