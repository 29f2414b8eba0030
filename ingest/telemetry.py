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
from dataclasses import dataclass
from datetime import datetime, timedelta

import polars as pl

from ingest.store import LoadResult, SourceFile, Store, new_load_id
from models.errors import InputError
from models.schema import GPU_UTIL, UTC_TS, conform

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


@dataclass(frozen=True)
class HourlyLoad:
    """GPU-hours of one ingest, ready for the store."""

    source: str  # prometheus | nvidia-smi | cloudwatch
    rows: pl.DataFrame  # columns of gpu_util except source and x_LoadId
    files: list[SourceFile]
    label: str


def to_gpu_util(rows: pl.DataFrame | pl.LazyFrame, source: str, load_id: str) -> pl.DataFrame:
    frame = rows.lazy().with_columns(
        pl.lit(source).alias("source"), pl.lit(load_id).alias("x_LoadId")
    )
    return conform(frame, GPU_UTIL).sort("host", "gpu_index", "gpu_uuid", "hour").collect()


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def store_gpu_util(store: Store, load: HourlyLoad) -> list[LoadResult]:
    """Replace this source's rows for exactly these hosts and hour range, one commit a month.

    Re-ingesting the same samples gives the same rows; other hosts, other sources and hours
    outside the range are untouched.
    """
    if load.rows.height == 0:
        return []
    results = []
    months = load.rows.with_columns(pl.col("hour").dt.strftime("%Y-%m").alias("_m"))
    with store.writer():
        for month in sorted(set(months["_m"])):
            part = months.filter(pl.col("_m") == month)
            load_id = new_load_id()
            frame = to_gpu_util(part.drop("_m"), load.source, load_id)
            hosts = sorted(set(frame["host"]))
            first: datetime = frame["hour"].min()  # type: ignore[assignment]
            last: datetime = frame["hour"].max()  # type: ignore[assignment]
            staged = store.staging_dir() / f"{load_id}-gpu_util.parquet"
            frame.write_parquet(staged)
            predicate = (
                f"x_PartMonth = {_quote(str(month))} AND source = {_quote(load.source)} "
                f"AND host IN ({', '.join(_quote(h) for h in hosts)}) "
                f"AND hour >= '{first:%Y-%m-%dT%H:%M:%SZ}' "
                f"AND hour < '{last + timedelta(hours=1):%Y-%m-%dT%H:%M:%SZ}'"
            )
            result = LoadResult(
                load_id=load_id,
                dataset="gpu_util",
                source=load.source,
                billing_account=f"{len(hosts)} host(s)",
                billing_period=str(month),
                currency=None,
                rows=frame.height,
                source_total=None,
                warehouse_total=None,
                status="committed",
                table_version=None,
                files=load.files,
            )
            try:
                store.replace_rows(
                    "gpu_util",
                    GPU_UTIL,
                    staged,
                    predicate,
                    result,
                    partition_by=["x_PartMonth"],
                    constants={"x_PartMonth": str(month)},
                )
            finally:
                staged.unlink(missing_ok=True)
            results.append(result)
    return sorted(results, key=lambda r: r.billing_period)
