"""Idle GPUs (DESIGN §6): the one definition of GPU-hours, idle states, idle cost, episodes.

Each rule is written once, here, as the SQL an engine runs (models/ runs nothing): the
warehouse refresh (ingest.derive.gpu_hours) builds `gpu_hours` and `idle_episodes` from these
fragments in DuckDB, and the dashboard's Idle page applies the same `state_sql` /
`idle_sql` to `gpu_hours` when its threshold slider leaves the configured value.

- Billed GPU-hours (`BILLED_LINES_SQL`, `BILLED_HOURS_SQL`, `GPU_ROWS_SQL`): one row per GPU
  per paid hour from classified gpu_compute lines. Cloud: the resource's EffectiveCost for
  the charge period (all its lines: instance, SP negation, GCP core/RAM parts) / (billed
  hours x GPUs of the instance). On-prem: the owned fixed rate F/(N x 8760) of the asset
  (gpu_economics.md B5, `owned_rates`; no capital after the economic life), not the daily
  line, whose energy above idle an idle GPU does not spend; without an asset row, the daily
  line / (24 x GpuCount). A line covering a day with fewer billed hours (ConsumedQuantity in
  hours < 24) is counted from the start of the period — the bill does not say which hours.
  A fractional-GPU VM (Azure NVadsA10 v5 below NV36) is one GPU row carrying the VM's whole
  cost. Costs stay in the currency the lines were billed in (`currency`, the period's first
  line's BillingCurrency): never converted, and never added to another currency's.
- States (`state_sql`): joined with `gpu_util` on (resource, hour, GPU index), falling back
  to the host name when telemetry has no resource id. Hours without samples are
  `unmonitored`, never idle or active. `idle_cost_sql`: the cost of an idle hour.
- Episodes: runs of consecutive idle hours per GPU, at least `episode_min_hours` long;
  `hard_idle` when every hour was (`episode_state_sql`).

The tests hold the engine equal, row for row, to an independent polars implementation of
the same rules (tests/oracles/idle.py).

An 8-GPU instance with 3 idle GPUs has 3/8 of its hour idle: states are per GPU row.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from models.onprem_cost import day_gpu_hour_rate, gpu_hour_rate, server_from_asset
from models.rules import GPU_COMPUTE
from models.schema import MONEY, UTC_TS, Column, Table, sql_list
from models.settings import IdleSettings

ACTIVE = "active"
UNDERUTILISED = "underutilised"
ALLOCATED_IDLE = "allocated_idle"  # idle, but something holds the GPU (memory, peaks)
HARD_IDLE = "hard_idle"  # idle with nothing loaded
UNMONITORED = "unmonitored"  # no telemetry: neither idle nor active
STATES = (ACTIVE, UNDERUTILISED, ALLOCATED_IDLE, HARD_IDLE, UNMONITORED)
IDLE_STATES = (ALLOCATED_IDLE, HARD_IDLE)
USEFUL_STATES = (ACTIVE, UNDERUTILISED)
CLOUD, ONPREM = "cloud", "onprem"  # deployments
DEPLOYMENTS = (CLOUD, ONPREM)

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
        Column("deployment", "string", False, allowed=DEPLOYMENTS),
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


IDLE_IN_SQL = sql_list(IDLE_STATES)
USEFUL_IN_SQL = sql_list(USEFUL_STATES)
MONEY_SQL = f"DECIMAL({MONEY.precision},{MONEY.scale})"


def _sql_number(x: float) -> str:
    return f"CAST('{float(x)!r}' AS DOUBLE)"  # parsed exactly, as Python holds the float


def idle_sql(threshold: str, activity: str = "avg_active") -> str:
    """A monitored GPU-hour is idle when its mean activity is under the threshold.

    `threshold` is SQL: a number, or a bound parameter such as `$threshold`."""
    return f"{activity} < {threshold}"


def state_sql(
    settings: IdleSettings, state_type: str | None = None, idle_below: str | None = None
) -> str:
    """Each GPU-hour's state: a SQL CASE expression over avg_active, max_active,
    mem_used_mib and samples (NULL samples = 0).

    `state_type` names a SQL type (e.g. an ENUM of STATES) the state literals are cast to;
    `idle_below` is SQL (e.g. a bound parameter) for the idle threshold in place of
    `settings.idle_below`.
    """

    def lit(state: str) -> str:
        return f"'{state}'" if state_type is None else f"CAST('{state}' AS {state_type})"

    idle = idle_sql(idle_below or _sql_number(settings.idle_below))
    least = settings.min_samples
    least_sql = str(least) if isinstance(least, int) else _sql_number(least)
    monitored = f"coalesce(samples, 0) >= {least_sql} AND avg_active IS NOT NULL"
    return (
        f"CASE WHEN NOT ({monitored}) THEN {lit(UNMONITORED)}"
        f" WHEN {idle} AND coalesce(max_active, avg_active) < "
        f"{_sql_number(settings.hard_idle_max_below)} AND (mem_used_mib IS NULL OR "
        f"mem_used_mib < {_sql_number(settings.hard_idle_mem_mib)}) THEN {lit(HARD_IDLE)}"
        f" WHEN {idle} THEN {lit(ALLOCATED_IDLE)}"
        f" WHEN avg_active < {_sql_number(settings.underutilised_below)}"
        f" THEN {lit(UNDERUTILISED)} ELSE {lit(ACTIVE)} END"
    )


def idle_cost_sql(state: str = "state", cost: str = "cost") -> str:
    """The idle cost of a GPU-hour: its whole cost when its state is idle, else 0."""
    return f"CASE WHEN {state} IN {IDLE_IN_SQL} THEN {cost} ELSE 0::{MONEY_SQL} END"


def episode_state_sql(all_hard: str) -> str:
    """An episode is hard_idle when every hour was (`all_hard`: SQL, true when so)."""
    return f"CASE WHEN {all_hard} THEN '{HARD_IDLE}' ELSE '{ALLOCATED_IDLE}' END"


def idle_step_sql(activity: str = "avg_active") -> str:
    """The least k >= 1 for which a monitored hour of this activity is idle at a threshold
    of k/100 (`idle_sql`), so that at a threshold of k/100 it is idle exactly when its step
    is <= k: a rollup by step answers any threshold in 1% steps as `state_sql` would.

    floor(activity x 100) is within one of the answer; the comparisons decide it as the
    floating-point threshold does (k / 100 in SQL is the double Python writes as k / 100).
    """
    base = f"greatest(CAST(floor({activity} * 100) AS BIGINT), 1)"

    def at(k: str) -> str:
        return idle_sql(f"(CAST({k} AS DOUBLE) / 100)", activity)

    return (
        f"CASE WHEN {at(base)} THEN {base} WHEN {at(f'{base} + 1')} THEN {base} + 1 "
        f"ELSE {base} + 2 END"
    )


# Billed GPU-hours, over cost-line columns (DuckDB dialect).
BILLED_LINES_SQL = (
    f"x_AiClass = '{GPU_COMPUTE}' AND ResourceId IS NOT NULL AND ChargeCategory = 'Usage'"
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
