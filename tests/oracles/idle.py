"""The polars oracle of GPU-hours, idle states and idle episodes (DESIGN §6), per row.

Production computes these once, in DuckDB (ingest.derive.gpu_hours, from the definitions in
models.idle). This is an independent second implementation of the same rules, written
plainly in polars, that the tests hold the engine equal to row for row:

- `billed_gpu_hours(lines)`: one row per GPU per paid hour from classified gpu_compute lines.
  Cloud: the resource's EffectiveCost for the charge period (all its lines: instance, SP
  negation, GCP core/RAM parts) / (billed hours x GPUs of the instance). On-prem: the owned
  fixed rate F/(N x 8760) of the asset (`owned_rates`; no capital after the economic life);
  without an asset row, the daily line / (24 x GpuCount). A line covering a day with fewer
  billed hours (ConsumedQuantity in hours < 24) is counted from the start of the period.
- `gpu_hours(billed, util, settings)`: joined with `gpu_util` on (resource, hour, GPU index),
  falling back to the host name when telemetry has no resource id; per-hour `state` and
  `idle_cost`. Hours without samples are `unmonitored`, never idle or active.
- `idle_episodes(gpu_hours, settings)`: runs of consecutive idle hours per GPU.
"""

from __future__ import annotations

import polars as pl

from models.idle import HOUR_UNITS, IDLE_STATES, OWNED_RATES_SCHEMA
from models.rules import GPU_COMPUTE
from models.schema import MONEY, UTC_TS
from models.settings import IdleSettings

_HOUR = pl.duration(hours=1)


def billed_gpu_hours(lines: pl.LazyFrame, owned: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Classified cost lines -> one row per paid GPU-hour (no telemetry yet).

    `owned` (from `owned_rates`) prices on-prem GPU-hours at the asset's fixed rate.
    """
    gpu = lines.filter(
        (pl.col("x_AiClass") == GPU_COMPUTE)
        & pl.col("ResourceId").is_not_null()
        & (pl.col("ChargeCategory") == "Usage")
        & (pl.col("CommitmentDiscountStatus").fill_null("Used") != "Unused")
    )
    period_h = (
        ((pl.col("ChargePeriodEnd") - pl.col("ChargePeriodStart")).dt.total_seconds() / 3600)
        .ceil()
        .cast(pl.Int64)
        .clip(lower_bound=1)
    )
    qty = pl.col("ConsumedQuantity").cast(pl.Float64)
    billed_h = (
        pl.when(pl.col("ConsumedUnit").str.contains(HOUR_UNITS).fill_null(False) & (qty > 0))
        .then(pl.min_horizontal(period_h, qty.ceil().cast(pl.Int64)))
        .otherwise(period_h)
    )
    per_period = (
        gpu.with_columns(
            billed_h.alias("_billed_h"),
            pl.col("ResourceId").str.to_lowercase().alias("_key"),
        )
        .group_by("_key", "ChargePeriodStart")
        .agg(
            pl.col("ResourceId").first().alias("resource_id"),
            pl.col("ResourceName").drop_nulls().first().alias("host"),
            pl.col("EffectiveCost").sum().alias("_cost"),
            pl.col("_billed_h").max(),
            pl.col("x_GpuPerInstance").max().alias("_gpus"),
            pl.col("x_GpuModelName").drop_nulls().first().alias("gpu_model"),
            pl.col("ProviderName").first().alias("provider"),
            pl.col("x_Source").first().alias("source"),
            pl.col("BillingCurrency").first().alias("currency"),
            pl.col("x_Team")
            .sort_by("EffectiveCost", descending=True, maintain_order=True)
            .first()
            .alias("team"),
        )
    )
    rows = pl.col("_gpus").fill_null(1.0).ceil().cast(pl.Int64).clip(lower_bound=1)
    from_bill = (pl.col("_cost") / (pl.col("_billed_h") * pl.col("_rows"))).cast(MONEY)
    cost = from_bill
    if owned is not None:
        per_period = per_period.join(owned.lazy().cast(OWNED_RATES_SCHEMA), on="_key", how="left")
        fixed = (
            pl.when(pl.col("ChargePeriodStart") >= pl.col("_life_end"))
            .then(pl.col("_rate_after_life"))
            .otherwise(pl.col("_rate"))
        )
        onprem = (pl.col("source") == "onprem") & pl.col("_rate").is_not_null()
        cost = pl.when(onprem).then(fixed).otherwise(from_bill).cast(MONEY)
    return (
        per_period.with_columns(
            rows.alias("_rows"),
            pl.int_ranges(0, pl.col("_billed_h")).alias("_k"),
        )
        .with_columns(
            cost.alias("cost"),
            pl.int_ranges(0, pl.col("_rows")).alias("gpu_index"),
        )
        .explode("_k")
        .with_columns((pl.col("ChargePeriodStart") + pl.duration(hours=pl.col("_k"))).alias("hour"))
        .explode("gpu_index")
        .select(
            pl.col("hour").cast(UTC_TS),
            "_key",
            "resource_id",
            "host",
            pl.col("gpu_index").cast(pl.Int64),
            pl.col("gpu_model").fill_null("unknown"),
            "provider",
            "source",
            pl.when(pl.col("source") == "onprem")
            .then(pl.lit("onprem"))
            .otherwise(pl.lit("cloud"))
            .alias("deployment"),
            pl.col("team").fill_null("unallocated"),
            "cost",
            "currency",
        )
    )


def _util_keyed(util: pl.LazyFrame, resources: pl.LazyFrame) -> pl.LazyFrame:
    """Telemetry keyed to billed resources: by resource id, else by host name.

    `resources` maps each billed resource key to its host (small: one row per resource).
    Telemetry names few distinct (resource id, host) pairs, so the match is decided once per
    pair and the telemetry takes its key with one join.
    """
    by_id = resources.select("_key").unique()
    by_host = (
        resources.filter(pl.col("_host").is_not_null())
        .group_by("_host")
        .agg(pl.col("_key").min().alias("_hkey"))  # a host billed under two ids: the least
    )
    pairs = (
        util.select("resource_id", "host")
        .unique()
        .with_columns(
            pl.col("resource_id").str.to_lowercase().alias("_rid"),
            pl.col("host").str.to_lowercase().alias("_host"),
        )
        .join(by_id.with_columns(pl.lit(True).alias("_known")), left_on="_rid",
              right_on="_key", how="left")
        .join(by_host, on="_host", how="left")
        .with_columns(
            pl.when(pl.col("_known").fill_null(False))
            .then(pl.col("_rid"))
            .otherwise(pl.col("_hkey"))
            .alias("_key")
        )
        .filter(pl.col("_key").is_not_null())
        .select("resource_id", "host", "_key")
    )  # fmt: skip
    tel = util.join(pairs, on=["resource_id", "host"], how="inner", nulls_equal=True)
    # GPU index from telemetry; ranked by uuid only for rows that lack one
    indexed = tel.filter(pl.col("gpu_index").is_not_null())
    ranked = tel.filter(pl.col("gpu_index").is_null()).with_columns(
        (pl.col("gpu_uuid").rank("dense").over("_key") - 1).cast(pl.Int64).alias("gpu_index")
    )
    return (
        pl.concat([indexed, ranked], how="vertical_relaxed")
        .select(
            "_key",
            pl.col("hour").cast(UTC_TS),
            pl.col("gpu_index").cast(pl.Int64),
            pl.col("gpu_uuid"),
            pl.col("avg_active"),
            pl.col("max_active"),
            pl.col("max_mem_used_mib").alias("mem_used_mib"),
            pl.col("samples"),
        )
        .unique(subset=["_key", "hour", "gpu_index"], keep="any")
    )


def state_expr(settings: IdleSettings) -> pl.Expr:
    avg, mx = pl.col("avg_active"), pl.col("max_active")
    mem = pl.col("mem_used_mib")
    monitored = (pl.col("samples") >= settings.min_samples) & avg.is_not_null()
    idle = avg < settings.idle_below
    hard = (
        idle
        & (mx.fill_null(avg) < settings.hard_idle_max_below)
        & (mem.is_null() | (mem < settings.hard_idle_mem_mib))
    )
    return (
        pl.when(~monitored)
        .then(pl.lit("unmonitored"))
        .when(hard)
        .then(pl.lit("hard_idle"))
        .when(idle)
        .then(pl.lit("allocated_idle"))
        .when(avg < settings.underutilised_below)
        .then(pl.lit("underutilised"))
        .otherwise(pl.lit("active"))
    )


def gpu_hours(billed: pl.LazyFrame, util: pl.LazyFrame, settings: IdleSettings) -> pl.LazyFrame:
    """Paid GPU-hours with telemetry, state and idle cost (GPU_HOURS columns)."""
    resources = billed.select("_key", pl.col("host").str.to_lowercase().alias("_host")).unique()
    tel = _util_keyed(util, resources)
    joined = billed.join(tel, on=["_key", "hour", "gpu_index"], how="left").with_columns(
        pl.col("samples").fill_null(0)
    )
    state = state_expr(settings)
    return joined.with_columns(state.alias("state")).select(
        "hour",
        "resource_id",
        "host",
        "gpu_index",
        "gpu_uuid",
        "gpu_model",
        "provider",
        "source",
        "deployment",
        "team",
        "cost",
        "currency",
        pl.col("avg_active").cast(pl.Float64),
        pl.col("max_active").cast(pl.Float64),
        pl.col("mem_used_mib").cast(pl.Float64),
        pl.col("samples").cast(pl.Int64),
        "state",
        pl.when(pl.col("state").is_in(IDLE_STATES))
        .then(pl.col("cost"))
        .otherwise(pl.lit(0).cast(MONEY))
        .cast(MONEY)
        .alias("idle_cost"),
        pl.col("hour").dt.strftime("%Y-%m").alias("month"),
    )


def idle_episodes(hours: pl.LazyFrame, settings: IdleSettings) -> pl.LazyFrame:
    """Runs of consecutive idle hours per (resource, GPU), at least episode_min_hours long."""
    key = ["resource_id", "gpu_index"]
    idle = (
        hours.filter(pl.col("state").is_in(IDLE_STATES))
        .sort([*key, "hour"])
        .with_columns(
            ((pl.col("hour") - pl.col("hour").shift(1).over(key)) != _HOUR)
            .fill_null(True)
            .cum_sum()
            .over(key)
            .alias("_run")
        )
    )
    return (
        idle.group_by([*key, "_run"])
        .agg(
            pl.col("host").first(),
            pl.col("gpu_uuid").drop_nulls().first(),
            pl.col("gpu_model").first(),
            pl.col("provider").first(),
            pl.col("team").first(),
            pl.col("currency").first(),
            pl.col("hour").min().alias("start"),
            (pl.col("hour").max() + _HOUR).alias("end"),
            pl.len().cast(pl.Int64).alias("hours"),
            pl.col("idle_cost").sum().cast(MONEY).alias("cost"),
            (pl.col("state") == "hard_idle").all().alias("_hard"),
        )
        .filter(pl.col("hours") >= settings.episode_min_hours)
        .select(
            "resource_id",
            "host",
            "gpu_index",
            "gpu_uuid",
            "gpu_model",
            "provider",
            "team",
            "start",
            "end",
            "hours",
            "cost",
            "currency",
            pl.when(pl.col("_hard"))
            .then(pl.lit("hard_idle"))
            .otherwise(pl.lit("allocated_idle"))
            .alias("state"),
        )
        .sort(["resource_id", "gpu_index", "start"])
    )
