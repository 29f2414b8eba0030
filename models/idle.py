"""Idle GPUs (DESIGN §6): paid GPU-hours joined with hourly telemetry, states and episodes.

- `billed_gpu_hours(lines)`: one row per GPU per paid hour from classified gpu_compute lines.
  Cloud: the resource's EffectiveCost for the charge period (all its lines: instance, SP
  negation, GCP core/RAM parts) / (billed hours x GPUs of the instance). On-prem: the owned
  fixed rate F/(N x 8760) of the asset (gpu_economics.md B5, `owned_rates`; no capital after
  the economic life), not the daily line, whose energy above idle an idle GPU does not spend;
  without an asset row, the daily line / (24 x GpuCount). A line covering a day with fewer
  billed hours (ConsumedQuantity in hours < 24) is counted from the start of the period — the
  bill does not say which hours. A fractional-GPU VM (Azure NVadsA10 v5 below NV36) is one
  GPU row carrying the VM's whole cost.
  Costs stay in the currency the lines were billed in (`currency`, the period's first line's
  BillingCurrency): never converted, and never added to another currency's.
- `gpu_hours(billed, util, settings)`: joined with `gpu_util` on (resource, hour, GPU index),
  falling back to the host name when telemetry has no resource id; per-hour `state` and
  `idle_cost`. Hours without samples are `unmonitored`, never idle or active.
- `idle_episodes(gpu_hours, settings)`: runs of consecutive idle hours per GPU.

These polars functions are the reference definition. The warehouse refresh runs the same
per-row work in DuckDB (ingest.gpu_hours) from the SQL forms defined here beside them
(`state_sql`, `BILLED_LINES_SQL`, `BILLED_HOURS_SQL`, `GPU_ROWS_SQL`, `HOUR_UNITS`); a test
holds the two paths equal row for row.

An 8-GPU instance with 3 idle GPUs has 3/8 of its hour idle: states are per GPU row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from models.onprem_cost import day_gpu_hour_rate, gpu_hour_rate, server_from_asset
from models.schema import MONEY, UTC_TS, Column, Table
from models.settings import IdleSettings

STATES = ("active", "underutilised", "allocated_idle", "hard_idle", "unmonitored")
IDLE_STATES = ("allocated_idle", "hard_idle")

GPU_HOURS = Table(
    "gpu_hours",
    (
        Column("hour", "datetime", False, doc="start of the UTC hour"),
        Column("resource_id", "string", False),
        Column("host", "string"),
        Column("gpu_index", "int"),
        Column("gpu_uuid", "string"),
        Column("gpu_model", "string", False),
        Column("provider", "string", False, doc="ProviderName"),
        Column("source", "string", False, doc="x_Source"),
        Column("deployment", "string", False, allowed=("cloud", "onprem")),
        Column("team", "string", False),
        Column("cost", "decimal", False, doc="cost of this GPU-hour"),
        Column("currency", "string", False, doc="BillingCurrency of cost and idle_cost"),
        Column("avg_active", "float"),
        Column("max_active", "float"),
        Column("mem_used_mib", "float"),
        Column("samples", "int", False),
        Column("state", "string", False, allowed=STATES),
        Column("idle_cost", "decimal", False),
        Column("month", "string", False, doc="YYYY-MM of the hour (partition)"),
    ),
)

IDLE_EPISODES = Table(
    "idle_episodes",
    (
        Column("resource_id", "string", False),
        Column("host", "string"),
        Column("gpu_index", "int"),
        Column("gpu_uuid", "string"),
        Column("gpu_model", "string", False),
        Column("provider", "string", False),
        Column("team", "string", False),
        Column("start", "datetime", False),
        Column("end", "datetime", False, doc="exclusive"),
        Column("hours", "int", False),
        Column("cost", "decimal", False, doc="idle cost of the episode"),
        Column("currency", "string", False, doc="BillingCurrency of cost"),
        Column("state", "string", False, doc="hard_idle if every hour was, else allocated_idle"),
    ),
)

HOUR_UNITS = r"(?i)(hour|hrs)"  # ConsumedUnit naming hours (also valid RE2, for SQL)
_HOUR = pl.duration(hours=1)


OWNED_RATES_SCHEMA = {
    "_key": pl.String,
    "_life_end": UTC_TS,
    "_rate": MONEY,
    "_rate_after_life": MONEY,
}


def owned_rates(assets: pl.DataFrame) -> pl.DataFrame:
    """Per asset (lower-cased id, as billed on-prem lines carry it): the owned GPU-hour rate
    F/(N·8760) within the economic life and after it (capital gone), and where life ends."""
    rows = []
    for row in assets.iter_rows(named=True):
        server = server_from_asset(row)
        end = server.life_end()
        rows.append(
            {
                "_key": server.asset_id.lower(),
                "_life_end": datetime(end.year, end.month, end.day, tzinfo=UTC),
                "_rate": gpu_hour_rate(server),
                "_rate_after_life": day_gpu_hour_rate(server, end),
            }
        )
    return pl.DataFrame(rows, schema=OWNED_RATES_SCHEMA).unique("_key", keep="last")


def billed_gpu_hours(lines: pl.LazyFrame, owned: pl.DataFrame | None = None) -> pl.LazyFrame:
    """Classified cost lines -> one row per paid GPU-hour (no telemetry yet).

    `owned` (from `owned_rates`) prices on-prem GPU-hours at the asset's fixed rate.
    """
    gpu = lines.filter(
        (pl.col("x_AiClass") == "gpu_compute")
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


def _sql_number(x: float) -> str:
    return f"CAST('{float(x)!r}' AS DOUBLE)"  # parsed exactly, as Python holds the float


def state_sql(settings: IdleSettings, state_type: str | None = None) -> str:
    """`state_expr` as a SQL CASE expression over the same columns (samples NULL = 0).

    `state_type` names a SQL type (e.g. an ENUM of STATES) the state literals are cast to.
    """

    def lit(state: str) -> str:
        return f"'{state}'" if state_type is None else f"CAST('{state}' AS {state_type})"

    idle = f"avg_active < {_sql_number(settings.idle_below)}"
    least = settings.min_samples
    least_sql = str(least) if isinstance(least, int) else _sql_number(least)
    monitored = f"coalesce(samples, 0) >= {least_sql} AND avg_active IS NOT NULL"
    return (
        f"CASE WHEN NOT ({monitored}) THEN {lit('unmonitored')}"
        f" WHEN {idle} AND coalesce(max_active, avg_active) < "
        f"{_sql_number(settings.hard_idle_max_below)} AND (mem_used_mib IS NULL OR "
        f"mem_used_mib < {_sql_number(settings.hard_idle_mem_mib)}) THEN {lit('hard_idle')}"
        f" WHEN {idle} THEN {lit('allocated_idle')}"
        f" WHEN avg_active < {_sql_number(settings.underutilised_below)}"
        f" THEN {lit('underutilised')} ELSE {lit('active')} END"
    )


# `billed_gpu_hours` in SQL, over cost-line columns (DuckDB dialect; models/ runs no SQL).
BILLED_LINES_SQL = (
    "x_AiClass = 'gpu_compute' AND ResourceId IS NOT NULL AND ChargeCategory = 'Usage'"
    " AND coalesce(CommitmentDiscountStatus, 'Used') <> 'Unused'"
)
_PERIOD_H_SQL = (
    "greatest(CAST(ceil(((epoch_us(ChargePeriodEnd) - epoch_us(ChargePeriodStart)) // 1000000)"
    " / 3600) AS BIGINT), 1)"
)
BILLED_HOURS_SQL = (  # a line's billed hours: its period, or fewer when it bills hours
    f"CASE WHEN coalesce(regexp_matches(ConsumedUnit, '{HOUR_UNITS}'), false)"
    " AND CAST(ConsumedQuantity AS DOUBLE) > 0"
    f" THEN least({_PERIOD_H_SQL}, CAST(ceil(CAST(ConsumedQuantity AS DOUBLE)) AS BIGINT))"
    f" ELSE {_PERIOD_H_SQL} END"
)
GPU_ROWS_SQL = "greatest(CAST(ceil(coalesce(_gpus, 1.0)) AS BIGINT), 1)"  # GPU rows of an instance


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
