"""Reads over `gpu_hours` (one row per paid GPU-hour with telemetry): idle GPUs, utilisation.

A GPU-hour is idle when it was monitored and its mean activity was under the threshold
(DESIGN §6). At the configured threshold the idle engine's own states, `idle_cost` and
`idle_episodes` are used, so the page shows exactly what `finops` computed; at another
threshold from the slider the same definitions (models.idle) are applied with only the
threshold changed: episodes are derived again from the resource's `gpu_hours` rows in DuckDB
(ingest.derive.idle_threshold), hours and costs come from rollups keyed by the 1% step at which each
hour turns idle (`idle_step_sql`). Unmonitored hours are never idle or active.

Costs are totalled in one currency at a time (`currency`, the page's GPU currency): a GPU
billed in EUR is never added to one billed in USD.

A year of 500 GPUs is 4.4 million GPU-hours, so the pages read rollups derived at ingest
(models.gpu_rollups, stored by month): `gpu_buckets` (per resource and day, GPU-hours by the
step at which they turn idle: enough to answer any slider position, which moves in 1% steps),
`gpu_demand` and `gpu_owned_days`; `gpu_hourly` (per resource and hour, with each GPU's
activity, for the one resource an engineer opens) is a view over gpu_hours that DuckDB
filters by resource and hours before it groups.
"""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from dashboard.queries.spend import frame
from ingest.derive.idle_threshold import episodes_at
from models.gpu_rollups import GPU_HOURLY_SQL, GPU_ROLLUPS, rollup_sql
from models.idle import IDLE_IN_SQL, USEFUL_IN_SQL, idle_sql
from models.settings import IdleSettings

GPU_HOURS = "gpu_hours"
USEFUL = USEFUL_IN_SQL
IDLE = IDLE_IN_SQL


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """The rollups are derived at ingest and registered with the warehouse's views; on a
    connection without them (a bare gpu_hours table) they are built here with the same SQL."""
    have = {
        r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    for table in GPU_ROLLUPS:
        if table.name not in have:
            cols = ", ".join(f'"{c}"' for c in table.names)
            con.execute(
                f"CREATE TABLE {table.name} AS SELECT {cols} "
                f"FROM ({rollup_sql(table, f'SELECT * FROM {GPU_HOURS}')})"
            )
    if "gpu_hourly" not in have:
        con.execute(f"CREATE VIEW gpu_hourly AS {GPU_HOURLY_SQL}")


_WHERE = """
    ($start IS NULL OR day >= $start) AND ($end IS NULL OR day <= $end)
    AND (len(CAST($providers AS VARCHAR[])) = 0
         OR list_contains(CAST($providers AS VARCHAR[]), provider))
    AND (len(CAST($teams AS VARCHAR[])) = 0
         OR list_contains(CAST($teams AS VARCHAR[]), coalesce(team, '(not set)')))
    AND currency IS NOT DISTINCT FROM $currency
"""


def _default(threshold: float, default: float) -> bool:
    return abs(threshold - default) < 1e-9


def step(threshold: float) -> int:
    """The slider's threshold in whole percent (it moves in 1% steps)."""
    return round(threshold * 100)


def at_step(threshold: float) -> float:
    """The threshold as the double k / 100 that the rollups' steps are measured against."""
    return step(threshold) / 100


def _params(f: Filters, currency: str | None, **extra: object) -> dict[str, object]:
    """The filters' parameters and the one currency GPU-hour costs are totalled in."""
    p = f.params()
    p.pop("envs")
    return {**p, "currency": currency, **extra}


def currencies(con: duckdb.DuckDBPyConnection) -> list[str | None]:
    """The currencies GPU-hours are billed in, the costliest first (None: a gpu_hours table
    written before it kept the currency, until it is rebuilt)."""
    rows = con.execute(
        "SELECT currency FROM gpu_buckets GROUP BY 1 ORDER BY sum(cost) DESC NULLS LAST, 1"
    ).fetchall()
    return [c for (c,) in rows]


RANKED = 200  # resources a ranking table lists; its totals still cover every one


def ranking(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    currency: str | None,
    threshold: float,
    default: float,
    n: int | None = None,
) -> pl.DataFrame:
    """The n resources with the most idle cost, with idle hours and their longest idle episode
    (the episodes the idle engine found at the configured threshold). Every row also carries
    `all_idle_cost` and `all_idle_resources`: the totals over every idle resource, not only
    the n shown, so a page's total never under-reports a fleet larger than its table."""
    if _default(threshold, default):
        idle, cost, extra = "idle_default", "idle_cost", {}
    else:
        idle, cost = "(bucket IS NOT NULL AND bucket <= $k)", "CASE WHEN {idle} THEN cost END"
        cost, extra = cost.format(idle=idle), {"k": step(threshold)}
    return frame(
        con,
        f"""
        WITH b AS (SELECT * FROM gpu_buckets WHERE {_WHERE}),
        e AS (SELECT resource_id, max(hours) AS longest_episode_h FROM idle_episodes
              WHERE ($start IS NULL OR CAST("start" AS DATE) >= $start)
                AND ($end IS NULL OR CAST("start" AS DATE) <= $end) GROUP BY 1)
        SELECT resource_id AS resource, any_value(team) AS team, any_value(gpu_model) AS gpu_model,
               any_value(provider) AS provider, any_value(deployment) AS deployment,
               coalesce(sum({cost}), 0) AS idle_cost,
               coalesce(sum(hours) FILTER (WHERE {idle}), 0)::BIGINT AS idle_hours,
               coalesce(sum(hours) FILTER (WHERE bucket IS NULL), 0)::BIGINT AS unmonitored_hours,
               sum(hours)::BIGINT AS gpu_hours, sum(cost) AS cost,
               coalesce(any_value(e.longest_episode_h), 0) AS longest_episode_h,
               sum(coalesce(sum({cost}), 0)) OVER () AS all_idle_cost,
               count(*) OVER () AS all_idle_resources
        FROM b LEFT JOIN e USING (resource_id)
        GROUP BY resource_id HAVING coalesce(sum({cost}), 0) > 0
        ORDER BY idle_cost DESC, resource LIMIT $n
        """,
        _params(f, currency, n=RANKED if n is None else n, **extra),
    )


def resource_hours(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    currency: str | None,
    resource: str,
    threshold: float,
    default: float,
) -> pl.DataFrame:
    """Hourly utilisation (mean over the resource's GPUs) and cost of one resource."""
    if _default(threshold, default):
        idle_gpus, idle_cost, extra = "idle_default", "idle_cost", {}
    else:
        idle_gpus = f"len(list_filter(activity, lambda a: {idle_sql('$thr', 'a')}))"
        idle_cost = (
            "coalesce(list_sum(list_transform(list_zip(activity, gpu_cost), "
            f"lambda p: CASE WHEN {idle_sql('$thr', 'p[1]')} THEN p[2] ELSE 0 END)), 0)"
        )
        extra = {"thr": at_step(threshold)}
    where = _WHERE.replace("day >=", "CAST(hour AS DATE) >=").replace(
        "day <=", "CAST(hour AS DATE) <="
    )
    return frame(
        con,
        f"""SELECT hour, utilisation, cost, {idle_cost} AS idle_cost, {idle_gpus} AS idle_gpus,
                   unmonitored_gpus, gpus
            FROM gpu_hourly WHERE resource_id = $resource AND {where} ORDER BY hour""",
        _params(f, currency, resource=resource, **extra),
    )


def episodes(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    resource: str,
    threshold: float,
    settings: IdleSettings,
) -> pl.DataFrame:
    """One resource's idle episodes starting in the period, costliest first; the GPUs idle
    over the same hours in one row (a whole idle node is one row of 8 GPUs, not 8 rows).

    At the configured threshold they are `idle_episodes`; at another, derived again from the
    resource's GPU-hours by the idle engine's own query (ingest.derive.idle_threshold), only
    `idle_below` changed."""
    p = {"start": f.params()["start"], "end": f.params()["end"]}
    grouped = """
        SELECT string_agg(CAST(gpu_index AS VARCHAR), ', ' ORDER BY gpu_index) AS gpus,
               "start", "end", hours, count(*) * hours AS gpu_hours, sum(cost) AS cost, state
        FROM {source}
        WHERE ($start IS NULL OR CAST("start" AS DATE) >= $start)
          AND ($end IS NULL OR CAST("start" AS DATE) <= $end)
        GROUP BY "start", "end", hours, state
        ORDER BY cost DESC, "start", gpus"""
    if _default(threshold, settings.idle_below):
        source = "(SELECT * FROM idle_episodes WHERE resource_id = $resource)"
        return frame(con, grouped.format(source=source), {**p, "resource": resource})
    hours = f"SELECT * FROM {GPU_HOURS} WHERE resource_id = $r"
    found = episodes_at(con, hours, settings, at_step(threshold), {"r": resource})
    con.register("_episodes", found)
    try:
        return frame(con, grouped.format(source="_episodes"), p)
    finally:
        con.unregister("_episodes")


def unmonitored(con: duckdb.DuckDBPyConnection, f: Filters, currency: str | None) -> pl.DataFrame:
    """Paid GPU-hours without telemetry, by provider: shown apart, never counted as idle."""
    return frame(
        con,
        f"""SELECT provider, deployment, sum(hours)::BIGINT AS gpu_hours, sum(cost) AS cost,
                   count(DISTINCT resource_id) AS resources
            FROM gpu_buckets WHERE {_WHERE} AND bucket IS NULL
            GROUP BY ALL ORDER BY cost DESC""",
        _params(f, currency),
    )


def utilisation(con: duckdb.DuckDBPyConnection, f: Filters, currency: str | None) -> pl.DataFrame:
    """Per deployment (cloud, onprem): mean activity over monitored hours, useful hours, idle
    cost (configured threshold), cost."""
    return frame(
        con,
        f"""SELECT deployment,
                   sum(active_sum) / sum(hours) FILTER (WHERE bucket IS NOT NULL) AS mean_activity,
                   coalesce(sum(hours) FILTER (WHERE useful), 0)::BIGINT AS useful_hours,
                   coalesce(sum(hours) FILTER (WHERE bucket IS NOT NULL), 0)::BIGINT
                       AS monitored_hours,
                   sum(hours)::BIGINT AS gpu_hours, sum(cost) AS cost, sum(idle_cost) AS idle_cost
            FROM gpu_buckets WHERE {_WHERE} GROUP BY 1 ORDER BY 1""",
        _params(f, currency),
    )


def gpu_models(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT gpu_model, sum(hours) FROM gpu_buckets WHERE gpu_model IS NOT NULL "
        "GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    return [r[0] for r in rows]


def coverage(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Telemetry coverage per provider and month: monitored share of paid GPU-hours."""
    return frame(
        con,
        """SELECT date_trunc('month', day) AS month, provider, sum(hours)::BIGINT AS gpu_hours,
                  coalesce(sum(hours) FILTER (WHERE bucket IS NOT NULL), 0)::BIGINT
                      AS monitored_hours,
                  monitored_hours / sum(hours) AS coverage
           FROM gpu_buckets GROUP BY ALL ORDER BY month, provider""",
    )


def costliest_idle(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str | None
) -> tuple[str, object] | None:
    """The resource the Idle GPUs page ranks first at the configured threshold, and its idle
    cost (from gpu_buckets alone, so the Overview reads no other table to link to it)."""
    row = con.execute(
        f"""SELECT resource_id, sum(idle_cost) FROM gpu_buckets WHERE {_WHERE}
        GROUP BY 1 HAVING coalesce(sum(idle_cost), 0) > 0 ORDER BY 2 DESC, 1 LIMIT 1""",
        _params(f, currency),
    ).fetchone()
    return None if row is None else (row[0], row[1])
