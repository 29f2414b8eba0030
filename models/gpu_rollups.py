"""The GPU rollups the dashboard reads instead of GPU-hours: their columns and their SQL.

Each is derived at ingest from one month of `gpu_hours` (or `gpu_util`) rows and stored
partitioned by that month (`x_PartMonth`), so a load rebuilds only the months it touched and
rows of two months never share a group: a day, an hour or a month lies in one month.

- `gpu_buckets`: per resource and day, GPU-hours by the 1% step at which they turn idle
  (`idle_step_sql`): enough to answer any threshold the Idle page's slider offers.
- `gpu_demand`: GPU-hours per hour, model, deployment, state and currency (own vs rent).
- `gpu_owned_days`: which owned GPUs were seen each day (the count of owned GPUs).
- `telemetry_monthly`: telemetry per source and month (Data health), from `gpu_util`.

Per resource-hour (the Idle page's one opened resource) is no rollup: that is a GROUP BY of
`gpu_hours` filtered by resource and hours, which the `gpu_hourly` view leaves to DuckDB.
"""

from __future__ import annotations

from models.idle import IDLE_IN_SQL, UNMONITORED, USEFUL_IN_SQL, idle_step_sql
from models.schema import Column, Table

TOP_BUCKET = 51  # idle only from a threshold above any the slider offers (50%)
PART_MONTH = "x_PartMonth"

GPU_BUCKETS = Table(
    "gpu_buckets",
    (
        Column("day", "date", False),
        Column("resource_id", "string", False),
        Column("provider", "string"),
        Column("deployment", "string"),
        Column("team", "string"),
        Column("gpu_model", "string"),
        Column("currency", "string"),
        Column("bucket", "int", doc="least k% at which the hours are idle; NULL: unmonitored"),
        Column("idle_default", "bool", doc="idle at the configured settings"),
        Column("useful", "bool"),
        Column("hours", "int", False),
        Column("cost", "decimal"),
        Column("idle_cost", "decimal"),
        Column("active_sum", "float", doc="sum of avg_active over the monitored hours"),
    ),
)

GPU_DEMAND = Table(
    "gpu_demand",
    (
        Column("hour", "datetime", False),
        Column("gpu_model", "string"),
        Column("deployment", "string"),
        Column("state", "string"),
        Column("currency", "string"),
        Column("gpus", "int", False),
        Column("cost", "decimal"),
    ),
)

GPU_OWNED_DAYS = Table(
    "gpu_owned_days",
    (
        Column("gpu_model", "string"),
        Column("gpu_id", "string"),
        Column("day", "date", False),
        Column("first_hour", "datetime", False),
        Column("last_hour", "datetime", False),
    ),
)

TELEMETRY_MONTHLY = Table(
    "telemetry_monthly",
    (
        Column("month", "datetime", False, doc="first instant of the UTC month"),
        Column("source", "string", False),
        Column("gpu_hours", "int", False),
        Column("gpus", "int", False),
        Column("unsampled_hours", "int", False),
        Column("data_until", "datetime", False),
    ),
)

GPU_ROLLUPS = (GPU_BUCKETS, GPU_DEMAND, GPU_OWNED_DAYS)
# The rollups that only count and sum GPU-hours (no column of one GPU): they can be built from
# weighted rows, one row standing for the `weight` GPUs of a period-hour that share every
# attribute (a period's unmonitored GPUs), instead of one row per GPU.
WEIGHABLE = (GPU_BUCKETS, GPU_DEMAND)

# UTC months from naive timestamps: a TIMESTAMPTZ would be formatted in the session's zone
_MONTH = "strftime(make_timestamp(epoch_us(hour)), '%Y-%m')"
_DAY = "CAST(make_timestamp(epoch_us(hour)) AS DATE)"


def rollup_sql(table: Table, source: str, weight: str | None = None) -> str:
    """The rollup `table` (its columns, then x_PartMonth) over rows of `source`: SQL of a
    relation with GPU_HOURS columns, or GPU_UTIL's for telemetry_monthly. Run on a
    connection whose time zone is UTC (days and months are UTC).

    `weight` (a WEIGHABLE table only): the column of `source` saying how many GPU-hours
    each row stands for; the sums are then exact multiples, the same figures as over one
    row per GPU-hour."""
    if weight is None:
        count, times = "count(*)", ""
    elif table in WEIGHABLE:
        count, times = f"sum({weight})", f" * {weight}"
    else:
        raise ValueError(f"{table.name} is built from one row per GPU-hour")
    return _SQL[table.name].format(src=source, month=_MONTH, day=_DAY, count=count, times=times)


_SQL = {
    # bucket: the least k at which the hour is idle at a threshold of k%, so that at k% the
    # idle hours are those with bucket <= k (NULL: unmonitored, at any threshold)
    "gpu_buckets": f"""
SELECT {{day}} AS day, resource_id, provider, deployment, team, gpu_model, currency,
       CASE WHEN state = '{UNMONITORED}' THEN NULL
            ELSE CAST(least({idle_step_sql()}, {TOP_BUCKET}) AS BIGINT) END AS bucket,
       state IN {IDLE_IN_SQL} AS idle_default, state IN {USEFUL_IN_SQL} AS useful,
       {{count}}::BIGINT AS hours, sum(cost{{times}}) AS cost,
       sum(coalesce(idle_cost, 0){{times}}) AS idle_cost,
       sum(avg_active{{times}}) FILTER (WHERE state <> '{UNMONITORED}') AS active_sum,
       {{month}} AS {PART_MONTH}
FROM ({{src}}) GROUP BY ALL""",
    "gpu_demand": f"""
SELECT hour, gpu_model, deployment, state, currency, {{count}}::BIGINT AS gpus,
       sum(cost{{times}}) AS cost, {{month}} AS {PART_MONTH}
FROM ({{src}}) GROUP BY ALL""",
    "gpu_owned_days": f"""
SELECT gpu_model,
       coalesce(gpu_uuid, concat_ws('#', resource_id, CAST(gpu_index AS VARCHAR))) AS gpu_id,
       {{day}} AS day, min(hour) AS first_hour, max(hour) AS last_hour,
       {{month}} AS {PART_MONTH}
FROM ({{src}}) WHERE deployment = 'onprem' GROUP BY ALL""",
    "telemetry_monthly": f"""
SELECT date_trunc('month', hour) AS month, source,
       count(*)::BIGINT AS gpu_hours,
       count(DISTINCT coalesce(gpu_uuid, host || '#' || gpu_index))::BIGINT AS gpus,
       count(*) FILTER (WHERE samples = 0)::BIGINT AS unsampled_hours,
       max(hour) + INTERVAL 1 HOUR AS data_until, {{month}} AS {PART_MONTH}
FROM ({{src}}) GROUP BY ALL""",
}

# Per resource and hour, with each GPU's activity: read for one resource at a time.
GPU_HOURLY_SQL = f"""
SELECT resource_id, hour, any_value(provider) AS provider, any_value(team) AS team,
       any_value(currency) AS currency,
       avg(avg_active) FILTER (WHERE state <> '{UNMONITORED}') AS utilisation,
       sum(cost) AS cost, sum(coalesce(idle_cost, 0)) AS idle_cost,
       count(*) FILTER (WHERE state IN {IDLE_IN_SQL}) AS idle_default,
       count(*) FILTER (WHERE state = '{UNMONITORED}') AS unmonitored_gpus,
       count(*) AS gpus,
       list(avg_active) FILTER (WHERE state <> '{UNMONITORED}') AS activity,
       list(cost) FILTER (WHERE state <> '{UNMONITORED}') AS gpu_cost
FROM gpu_hours GROUP BY resource_id, hour"""
