"""GPU-hours and idle episodes computed in DuckDB, streamed to staged Parquet files.

The one production implementation of GPU-hours, idle states and episodes: the rules are the
definitions of models.idle (`state_sql`, `idle_cost_sql`, `episode_state_sql`,
`BILLED_LINES_SQL`, `BILLED_HOURS_SQL`, `GPU_ROWS_SQL`); this module runs them as SQL, so a
year of GPU-hours is joined and written with bounded memory (DuckDB spills to the staging
directory beyond `memory_limit`). The tests compare it with a polars oracle, row for row.

Where "the first" value of a group of cost lines is taken, it is the line with the least
x_LineId.

Two paths give the same rows. Usually telemetry is matched to the billed period-hours
(`_matched`), the GPU rows without telemetry are added from a bit mask, and on a full refresh
the episodes come from `_matched` with integer keys. Instances wider than 62 GPUs, or
telemetry with two rows for one GPU-hour, take the general join of every billed GPU row; their
episodes, like those of an incremental refresh, are derived from the gpu_hours table
(`write_idle_episodes`).
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import NamedTuple

import duckdb
import polars as pl

from models.idle import (
    BILLED_HOURS_SQL,
    BILLED_LINES_SQL,
    CLOUD,
    DEPLOYMENTS,
    GPU_HOURS,
    GPU_ROWS_SQL,
    HARD_IDLE,
    IDLE_EPISODES,
    IDLE_IN_SQL,
    MONEY_SQL,
    ONPREM,
    OWNED_RATES_SCHEMA,
    STATES,
    UNMONITORED,
    episode_state_sql,
    idle_cost_sql,
    state_sql,
)
from models.schema import MONEY, Table
from models.settings import IdleSettings

_US_PER_HOUR = 3_600_000_000
_SCALE = 10**MONEY.scale  # MONEY's unscaled integer per unit
_MONEY_SQL = MONEY_SQL
_UNIT = f"CAST('1e-{MONEY.scale}' AS {_MONEY_SQL})"  # one unscaled step of MONEY
OVERLAP = "idle hours of one GPU overlap"


def warehouse_views(con: duckdb.DuckDBPyConnection, root: Path) -> None:
    """Create on `con` the views `warehouse.connect(root)` has, over the same snapshot, so a
    refresh reads what readers read (cost_lines, classified_costs, gpu_util, ...) on a
    connection that may write to the staging directory and spill."""
    from ingest.warehouse import connection as warehouse

    src = warehouse.connect(root)
    try:
        views = src.execute(
            "SELECT sql FROM duckdb_views() WHERE NOT internal ORDER BY view_oid"
        ).fetchall()
    finally:
        src.close()
    for (sql,) in views:
        con.execute(sql)


def _next_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def _month_start(month: str) -> str:
    """SQL TIMESTAMPTZ literal of a 'YYYY-MM' month's first instant (UTC)."""
    y, m = (int(x) for x in month.split("-"))
    return f"TIMESTAMPTZ '{y:04d}-{m:02d}-01 00:00:00+00'"


def _months_sql(column: str, months: list[str]) -> str:
    conds = [
        f"({column} >= {_month_start(m)} AND {column} < {_month_start(_next_month(m))})"
        for m in months
    ]
    return "(" + " OR ".join(conds) + ")" if conds else "false"


def _periods_sql(*, owned: bool) -> str:
    """One row per (resource key, charge period) of the staged `_gpu_lines`: attributes,
    cost per GPU-hour, sizes.

    Most periods have one line, whose values are the period's: the string "first" aggregates
    run only over periods of several lines, the rest take their line by id.
    """
    rounded = (  # sum / (hours x rows), rounded half to even at MONEY's scale as polars does
        "(CASE WHEN _r * 2 > _den OR (_r * 2 = _den AND _q % 2 <> 0) THEN _q + _s ELSE _q END)"
        f"::DECIMAL(38,0) * {_UNIT}"
    )
    cost = unit_cost = "p._unit_cost"
    if owned:
        rates = "LEFT JOIN owned_rates o ON o._key = p._key"
        cost = (
            "CASE WHEN p.source = 'onprem' AND o._rate IS NOT NULL THEN "
            "(CASE WHEN p.ChargePeriodStart >= o._life_end THEN o._rate_after_life "
            f"ELSE o._rate END)::{_MONEY_SQL} ELSE {unit_cost} END"
        )
    else:
        rates = ""
    return f"""
WITH groups AS (
  SELECT _key, ChargePeriodStart, count(*) AS _n, min(x_LineId) AS _first,
         sum(EffectiveCost) AS _cost, max(_billed_h) AS _billed_h, max(x_GpuPerInstance) AS _gpus
  FROM _gpu_lines GROUP BY _key, ChargePeriodStart
), several AS (  -- the first non-null host and model, and the costliest line's team
  SELECT _key, ChargePeriodStart,
         arg_min(ResourceName, x_LineId) FILTER (WHERE ResourceName IS NOT NULL) AS host,
         arg_min(x_GpuModelName, x_LineId) FILTER (WHERE x_GpuModelName IS NOT NULL) AS gpu_model,
         arg_max_null(x_Team, row(EffectiveCost, -x_LineId)) AS team
  FROM _gpu_lines l
  SEMI JOIN (SELECT _key, ChargePeriodStart FROM groups WHERE _n > 1) g
    USING (_key, ChargePeriodStart)
  GROUP BY _key, ChargePeriodStart
), per_period AS (
  SELECT g.*, f.ResourceId AS resource_id, f.ProviderName AS provider, f.x_Source AS source,
         f.BillingCurrency AS currency,
         CASE WHEN g._n = 1 THEN f.ResourceName ELSE m.host END AS host,
         CASE WHEN g._n = 1 THEN f.x_GpuModelName ELSE m.gpu_model END AS gpu_model,
         CASE WHEN g._n = 1 THEN f.x_Team ELSE m.team END AS team
  FROM groups g JOIN _gpu_lines f
    ON f.x_LineId = g._first AND f._key = g._key AND f.ChargePeriodStart = g.ChargePeriodStart
  LEFT JOIN several m ON m._key = g._key AND m.ChargePeriodStart = g.ChargePeriodStart
), sized AS (
  SELECT *, {GPU_ROWS_SQL} AS _rows FROM per_period
), quotients AS (  -- the division once per distinct (cost, divisor): HUGEINT is slow
  SELECT _cost, _dd, {rounded} AS _unit_cost FROM (
    SELECT *, _num // _den AS _q, abs(_num % _den) AS _r, sign(_num) AS _s FROM (
      SELECT *, CAST(_cost * {_SCALE} AS HUGEINT) AS _num, CAST(_dd AS HUGEINT) AS _den
      FROM (SELECT DISTINCT _cost, _billed_h * _rows AS _dd FROM sized)))
), divided AS (
  SELECT s.*, q._unit_cost FROM sized s
  JOIN quotients q
    ON q._cost IS NOT DISTINCT FROM s._cost AND q._dd IS NOT DISTINCT FROM s._billed_h * s._rows
)
SELECT p._key, p.resource_id, p.host, coalesce(p.gpu_model, 'unknown') AS gpu_model,
       p.provider, p.source,
       CASE WHEN p.source = 'onprem' THEN '{ONPREM}' ELSE '{CLOUD}' END AS deployment,
       coalesce(p.team, 'unallocated') AS team, {cost} AS cost, p.currency,
       epoch_us(p.ChargePeriodStart) AS _start, p._rows, p._billed_h * p._rows AS _n_rows,
       strftime(make_timestamp(epoch_us(p.ChargePeriodStart)), '%Y-%m') AS _m0,
       strftime(make_timestamp(epoch_us(p.ChargePeriodStart) + (p._billed_h - 1) * {_US_PER_HOUR}),
                '%Y-%m') AS _m1
FROM divided p {rates}
"""


_ENUM_COLUMNS = ("resource_id", "host", "gpu_model", "provider", "source", "team", "currency")


def _months_between(first: str, last: str) -> list[str]:
    out, month = [], first
    while month <= last:
        out.append(month)
        month = _next_month(month)
    return out


def _enum(values: list[str]) -> str:
    return "ENUM (" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _stage_inputs(con: duckdb.DuckDBPyConnection, lines: str, util: str, owned: bool) -> list[str]:
    """Small temp tables and ENUM types the row-level query joins to: billed periods with an
    integer resource key, telemetry (resource id, host) pairs keyed to them, uuid ranks.

    The string columns go out as ENUMs, whose Parquet dictionaries DuckDB writes directly.
    """
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gpu_lines AS
        SELECT x_LineId, ResourceId, ResourceName, ChargePeriodStart, EffectiveCost, ProviderName,
               x_Source, BillingCurrency, x_Team, x_GpuPerInstance, x_GpuModelName,
               lower(ResourceId) AS _key,
               {BILLED_HOURS_SQL} AS _billed_h
        FROM ({lines}) WHERE {BILLED_LINES_SQL}"""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _periods AS {_periods_sql(owned=owned)}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _keys AS SELECT _key, "
        "CAST(row_number() OVER () AS INTEGER) AS _kid FROM (SELECT DISTINCT _key FROM _periods)"
    )
    for col in _ENUM_COLUMNS:
        con.execute(
            f"CREATE OR REPLACE TEMP TYPE _e_{col} AS ENUM "
            f"(SELECT DISTINCT {col} FROM _periods WHERE {col} IS NOT NULL)"
        )
    first, last = con.execute("SELECT min(_m0), max(_m1) FROM _periods").fetchall()[0]
    months = _months_between(first, last) if first and last else []
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_month AS {_enum(months)}")
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_state AS {_enum(list(STATES))}")
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_deployment AS {_enum(list(DEPLOYMENTS))}")
    enums = ", ".join(f"p.{c}::_e_{c} AS {c}" for c in _ENUM_COLUMNS)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _billed AS
        SELECT k._kid, {enums},
               p.deployment::_e_deployment AS deployment, p.cost, p._start, p._rows, p._n_rows,
               p._m0 = p._m1 AS _one_month, p._m0::_e_month AS _month
        FROM _periods p JOIN _keys k ON k._key = p._key"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _util_ids AS SELECT DISTINCT resource_id, host, gpu_uuid,"
        f" gpu_index IS NULL AS _noidx FROM ({util})"
    )
    con.execute(
        "CREATE OR REPLACE TEMP TYPE _e_gpu_uuid AS ENUM "
        "(SELECT DISTINCT gpu_uuid FROM _util_ids WHERE gpu_uuid IS NOT NULL)"
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _pairs AS
        WITH hosts AS (
          SELECT lower(host) AS _host, min(_key) AS _hkey FROM _periods
          WHERE host IS NOT NULL GROUP BY 1
        )
        SELECT u.resource_id, u.host, coalesce(k._kid, hk._kid) AS _kid
        FROM (SELECT DISTINCT resource_id, host FROM _util_ids) u
        LEFT JOIN _keys k ON k._key = lower(u.resource_id)
        LEFT JOIN hosts h ON h._host = lower(u.host)
        LEFT JOIN _keys hk ON hk._key = h._hkey
        WHERE coalesce(k._kid, hk._kid) IS NOT NULL"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _ranks AS
        SELECT _kid, gpu_uuid,
               dense_rank() OVER (PARTITION BY _kid ORDER BY gpu_uuid) - 1 AS _idx
        FROM (SELECT DISTINCT p._kid, u.gpu_uuid FROM _util_ids u JOIN _pairs p
              ON p.resource_id IS NOT DISTINCT FROM u.resource_id
              AND p.host IS NOT DISTINCT FROM u.host
              WHERE u._noidx AND u.gpu_uuid IS NOT NULL)"""
    )
    return months


# billed GPU-hours: each period's hours x GPU rows
_BILLED_ROWS = f"""(SELECT *, _start + (_j // _rows) * {_US_PER_HOUR} AS _h, _j % _rows AS gpu_index
  FROM (SELECT *, unnest(range(_n_rows)) AS _j FROM _billed))"""
# Months are UTC months formatted from naive timestamps (make_timestamp): formatting a
# TIMESTAMPTZ goes through the time zone library and is about 3x slower.
_MONTH_SQL = (  # the period's month unless its hours cross into the next
    "CASE WHEN _one_month THEN _month ELSE strftime(make_timestamp(_h), '%Y-%m')::_e_month END"
)


def _telemetry_sql(util: str, *, ranked: bool) -> str:
    """Telemetry rows keyed to billed resources: _kid, _h (epoch us), gpu_index, readings."""
    index = "u.gpu_index"
    rank_join = ""
    if ranked:  # GPU index by uuid rank, for telemetry without one
        index = "coalesce(u.gpu_index, r._idx)"
        rank_join = (
            "LEFT JOIN _ranks r ON u.gpu_index IS NULL AND r._kid = p._kid "
            "AND r.gpu_uuid = u.gpu_uuid"
        )
    return f"""
    SELECT p._kid, epoch_us(u.hour) AS _h, {index} AS gpu_index,
           u.gpu_uuid::_e_gpu_uuid AS gpu_uuid, u.avg_active::DOUBLE AS avg_active,
           u.max_active::DOUBLE AS max_active,
           u.max_mem_used_mib::DOUBLE AS mem_used_mib, u.samples::BIGINT AS samples
    FROM ({util}) u JOIN _pairs p
      ON p.resource_id IS NOT DISTINCT FROM u.resource_id AND p.host IS NOT DISTINCT FROM u.host
    {rank_join}"""


def _stated_select(joined: str, state: str) -> str:
    """GPU_HOURS rows (+ x_PartMonth) from `joined`: billed attributes, _h, gpu_index and the
    telemetry readings (NULL where none); `state` is the SQL of each row's state."""
    return f"""
WITH stated AS (
  SELECT *, {state} AS state, {_MONTH_SQL} AS month FROM ({joined})
)
SELECT make_timestamptz(_h) AS hour, resource_id, host, gpu_index, gpu_uuid, gpu_model,
       provider, source, deployment, team, cost, currency, avg_active, max_active, mem_used_mib,
       coalesce(samples, 0)::BIGINT AS samples, state,
       {idle_cost_sql()} AS idle_cost,
       month, month AS x_PartMonth
FROM stated
"""


_ATTRIBUTES = "resource_id, host, gpu_model, provider, source, deployment, team, cost, currency"
_READINGS = "gpu_uuid, avg_active, max_active, mem_used_mib, samples"


def _gpu_hours_select(util: str, settings: IdleSettings, *, ranked: bool, dedup: bool) -> str:
    """GPU_HOURS rows (+ x_PartMonth): every billed GPU-hour joined to its telemetry.

    Without `dedup` telemetry is joined as it is: right when no GPU-hour has two telemetry
    rows, which the caller checks from the row count.
    """
    distinct = "DISTINCT ON (_kid, _h, gpu_index)" if dedup else ""
    joined = f"""
  SELECT b.*, {", ".join(f"t.{c}" for c in _READINGS.split(", "))}
  FROM (SELECT _kid, {_ATTRIBUTES}, _one_month, _month, _h, gpu_index FROM {_BILLED_ROWS}) b
  LEFT JOIN (SELECT {distinct} * FROM ({_telemetry_sql(util, ranked=ranked)})
             WHERE gpu_index IS NOT NULL) t
    ON t._kid = b._kid AND t._h = b._h AND t.gpu_index = b.gpu_index"""
    return _stated_select(joined, state_sql(settings, "_e_state"))


# The fast path's limit: a bit per GPU row of a period-hour in a BIGINT says which have telemetry
_MASK_ROWS = 62


def _period_hours(columns: str = "_kid, _rows, _start") -> str:
    """Each billed period's hours (_h) with `columns` of `_billed`; a period is its row of
    _billed (_pid)."""
    return f"""(SELECT *, _start + _i * {_US_PER_HOUR} AS _h
  FROM (SELECT rowid AS _pid, {columns}, unnest(range(_n_rows // _rows)) AS _i FROM _billed))"""


def _matched_sql(util: str, settings: IdleSettings, *, ranked: bool) -> str:
    """The telemetry of billed GPU-hours, by period (_pid): one row per telemetry row, with
    its state (_state).

    The join is to the period-hours (as many rows as billed lines hourly), not to every
    billed GPU row: GPU rows without telemetry are added by `_fast_gpu_hours_select`.
    """
    return f"""
SELECT *, {state_sql(settings, "_e_state")} AS _state FROM (
  SELECT h._pid, h._h, t.gpu_index, {", ".join(f"t.{c}" for c in _READINGS.split(", "))}
  FROM ({_telemetry_sql(util, ranked=ranked)}) t JOIN {_period_hours()} h
    ON h._kid = t._kid AND h._h = t._h
  WHERE t.gpu_index >= 0 AND t.gpu_index < h._rows)"""


def _fast_gpu_hours_select() -> str:
    """GPU_HOURS rows from `_matched` plus the billed GPU rows it lacks, found per
    period-hour from a bit mask of the GPU rows it has (periods of <= _MASK_ROWS rows).

    As `_gpu_hours_select` without `dedup`, right when no GPU-hour has two telemetry rows
    (then the rows outnumber the billed GPU-hours, which the caller checks). The rows without
    telemetry carry their period's attributes from the start: where most GPUs are
    unmonitored they are most of the rows, and joining them back by period would cost a
    join of every row.
    """
    attributes = ", ".join(f"b.{c}" for c in _ATTRIBUTES.split(", "))
    nulls = (  # no readings: unmonitored, whatever the settings
        "NULL::_e_gpu_uuid, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::BIGINT, "
        f"'{UNMONITORED}'::_e_state"
    )
    hours = _period_hours("*")
    joined = f"""
  WITH cover AS (
    SELECT _pid, _h, bit_or(1::BIGINT << gpu_index) AS _mask FROM _matched GROUP BY _pid, _h
  )
  SELECT {attributes}, b._one_month, b._month, r._h, r.gpu_index,
         {", ".join(f"r.{c}" for c in _READINGS.split(", "))}, r._state
  FROM _matched r JOIN _billed b ON b.rowid = r._pid
  UNION ALL
  SELECT {_ATTRIBUTES}, _one_month, _month, _h, gpu_index, {nulls} FROM (
    SELECT {attributes}, b._one_month, b._month, b._h, c._mask,
           unnest(range(b._rows)) AS gpu_index
    FROM {hours} b LEFT JOIN cover c ON c._pid = b._pid AND c._h = b._h
    WHERE c._mask IS NULL OR c._mask <> (1::BIGINT << b._rows) - 1)
  WHERE _mask IS NULL OR (_mask >> gpu_index) & 1 = 0"""
    return _stated_select(joined, "_state")


_EPISODE_AGGREGATES = f"""
       arg_min_null(host, hour) AS host,
       arg_min(gpu_uuid, hour) FILTER (WHERE gpu_uuid IS NOT NULL) AS gpu_uuid,
       arg_min_null(gpu_model, hour) AS gpu_model, arg_min_null(provider, hour) AS provider,
       arg_min_null(team, hour) AS team, arg_min_null(currency, hour) AS currency,
       min(hour) AS start,
       max(hour) + INTERVAL 1 HOUR AS "end", {{hours}} AS hours,
       sum(idle_cost)::{_MONEY_SQL} AS cost,
       {episode_state_sql(f"bool_and(state = '{HARD_IDLE}')")} AS state"""


def idle_episodes_sql(hours: str, settings: IdleSettings, *, islands: bool = True) -> str:
    """Episodes (IDLE_EPISODES columns) from GPU_HOURS rows (`hours`): runs of consecutive
    idle hours per (resource, GPU), at least episode_min_hours long.

    With `islands` a run is the idle rows whose hour minus their rank is the same (one sort);
    that is a run of consecutive hours exactly when each such group is contiguous in rank,
    else (only when idle hours of one GPU overlap) the query fails with OVERLAP. Without,
    runs are numbered by their breaks (an hour not one after the previous starts a run).
    """
    key = "resource_id, gpu_index"
    idle = f"SELECT * FROM ({hours}) WHERE state IN {IDLE_IN_SQL}"
    if islands:
        checked = (
            "CASE WHEN count(*) = max(_rn) - min(_rn) + 1 THEN count(*)::BIGINT "
            f"ELSE CAST(error('{OVERLAP}') AS BIGINT) END"
        )
        return f"""
WITH idle AS (
  SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY hour) AS _rn FROM ({idle})
)
SELECT resource_id, gpu_index, {_EPISODE_AGGREGATES.format(hours=checked)}
FROM idle GROUP BY {key}, epoch_us(hour) - _rn * {_US_PER_HOUR}
HAVING count(*) >= {math.ceil(settings.episode_min_hours)}
"""
    return f"""
WITH idle AS (
  SELECT *, CASE WHEN hour - lag(hour) OVER w = INTERVAL 1 HOUR THEN 0 ELSE 1 END AS _new
  FROM ({idle}) WINDOW w AS (PARTITION BY {key} ORDER BY hour)
), runs AS (
  SELECT *, sum(_new) OVER (PARTITION BY {key} ORDER BY hour
                            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS _run
  FROM idle
)
SELECT resource_id, gpu_index, {_EPISODE_AGGREGATES.format(hours="count(*)::BIGINT")}
FROM runs GROUP BY {key}, _run
HAVING count(*) >= {math.ceil(settings.episode_min_hours)}
"""


def _fast_episodes_select(settings: IdleSettings, *, islands: bool, uuids: bool = True) -> str:
    """IDLE_EPISODES rows from `_matched` (GPU rows without telemetry are never idle), with
    integer keys; the first hour's attributes are those of its period (_pid).

    Runs as in `idle_episodes_sql`: with `islands` by hour minus rank (exact when no two
    periods of a resource overlap, so that no GPU has an hour twice, so that a run's last
    hour follows from its length); else numbered by their breaks. Without `uuids` (no
    telemetry row has one) the uuid aggregate is skipped.
    """
    us = _US_PER_HOUR
    last = f"min(_h) + (count(*) - 1) * {us}"
    if islands:
        runs = "(SELECT *, row_number() OVER (PARTITION BY _k ORDER BY _h) AS _rn FROM idle)"
        run = f"_h - _rn * {us}"
    else:
        last = "max(_h)"
        w = "PARTITION BY _k ORDER BY _h, _pid"  # one order for both windows, ties included
        runs = f"""(SELECT *, sum(_new) OVER ({w} ROWS UNBOUNDED PRECEDING) AS _run FROM (
          SELECT *, CASE WHEN _h - lag(_h) OVER ({w}) = {us} THEN 0 ELSE 1 END AS _new
          FROM idle))"""
        run = "_run"
    uuid = "NULL::_e_gpu_uuid"
    if uuids:
        uuid = "arg_min(gpu_uuid, _h) FILTER (WHERE gpu_uuid IS NOT NULL)"
    return f"""
WITH idle AS (
  SELECT enum_code(b.resource_id)::BIGINT * 64 + m.gpu_index AS _k, m._h, m._pid, m.gpu_uuid,
         b.cost, m._state = '{HARD_IDLE}' AS _hard
  FROM _matched m JOIN _billed b ON b.rowid = m._pid
  WHERE m._state IN {IDLE_IN_SQL}
), runs AS (
  SELECT _k, min(_h) AS _start, {last} AS _last, count(*)::BIGINT AS _n, sum(cost) AS cost,
         bool_and(_hard) AS _hard, arg_min(_pid, _h) AS _pid, {uuid} AS gpu_uuid
  FROM {runs}
  GROUP BY _k, {run}
  HAVING count(*) >= {math.ceil(settings.episode_min_hours)}
)
SELECT b.resource_id, b.host, r._k % 64 AS gpu_index, r.gpu_uuid, b.gpu_model, b.provider,
       b.team, make_timestamptz(r._start) AS start, make_timestamptz(r._last + {us}) AS "end",
       r._n AS hours, r.cost::{_MONEY_SQL} AS cost, b.currency,
       {episode_state_sql("r._hard")} AS state
FROM runs r JOIN _billed b ON b.rowid = r._pid
"""


_OVERLAPPING_PERIODS = f"""SELECT count(*) FROM (
  SELECT _kid, _h FROM {_period_hours()} GROUP BY _kid, _h HAVING count(*) > 1)"""


def _columns(table: Table, always: str, guard: tuple[str, ...]) -> str:
    """The table's columns, the `guard` ones marked nullable: DuckDB writes a column it knows
    to hold no NULLs as required, and the first file of a Delta table fixes its schema."""
    return ", ".join(
        f'CASE WHEN "{always}" IS NOT NULL THEN "{c.name}" END AS "{c.name}"'
        if c.name in guard
        else f'"{c.name}"'
        for c in table.columns
    )


def _copy(
    con: duckdb.DuckDBPyConnection,
    select: str,
    path: Path,
    partition_by: str | None = None,
    params: dict[str, object] | None = None,
) -> int:
    """COPY to one file, or with `partition_by` to a folder of `col=value/` files (which
    are replaced whole when the copy is repeated)."""
    options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
    if partition_by:
        shutil.rmtree(path, ignore_errors=True)
        options += f", PARTITION_BY ({partition_by})"
    # the target is a bound value: a warehouse folder's name is never SQL
    bound = {**(params or {}), "copy_target": str(path)}
    out = con.execute(f"COPY ({select}) TO $copy_target ({options})", bound).fetchall()
    return int(out[0][0]) if out else 0


_STAGED_TABLES = (
    "_gpu_lines", "_periods", "_keys", "_billed", "_util_ids", "_pairs", "_ranks", "_matched"
)  # fmt: skip


class Staged(NamedTuple):
    """What `write_gpu_hours` staged: gpu_hours rows, and idle_episodes rows when it could
    stage them too (None: derive them from the gpu_hours table with `write_idle_episodes`)."""

    rows: int
    episodes: int | None


def write_gpu_hours(
    con: duckdb.DuckDBPyConnection,
    lines: str,
    util: str,
    owned: pl.DataFrame | None,
    settings: IdleSettings,
    path: Path,
    months: list[str] | None = None,
    episodes: Path | None = None,
) -> Staged:
    """Stage gpu_hours rows (GPU_HOURS columns) in `path`, a folder of `x_PartMonth=YYYY-MM/`
    files, and with `episodes` (all months only) idle_episodes rows in that file.

    `lines`/`util` are SQL relations on `con`; `months` limits lines, telemetry and hours to
    those months (a line's hours stay in the month it starts in).
    """
    if months is not None:
        lines = f"SELECT * FROM ({lines}) WHERE {_months_sql('ChargePeriodStart', months)}"
        util = f"SELECT * FROM ({util}) WHERE {_months_sql('hour', months)}"
        episodes = None  # episodes span months: they come from the whole table
    if owned is not None:
        con.register("owned_rates", owned.cast(OWNED_RATES_SCHEMA).to_arrow())
    try:
        known = _stage_inputs(con, lines, util, owned is not None)
        n_ranked, widest = con.execute(
            "SELECT (SELECT count(*) FROM _ranks), (SELECT coalesce(max(_rows), 0) FROM _billed)"
        ).fetchall()[0]
        ranked = n_ranked > 0  # telemetry without GPU indexes, ranked by uuid
        cols = _columns(GPU_HOURS, "hour", ("host", "gpu_index")) + ', "x_PartMonth"'
        where = ""
        if months is not None:
            listed = ", ".join(f"'{m}'::_e_month" for m in months if m in known) or "NULL"
            where = f" WHERE month IN ({listed})"
        fast = widest <= _MASK_ROWS
        if fast:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _matched AS "
                + _matched_sql(util, settings, ranked=ranked)
            )
            select = _fast_gpu_hours_select()
        else:
            select = _gpu_hours_select(util, settings, ranked=ranked, dedup=False)
        rows = _copy(con, f"SELECT {cols} FROM ({select}){where}", path, "x_PartMonth")
        billed = con.execute(  # one row per billed GPU-hour unless telemetry had duplicates
            "SELECT coalesce(sum(_n_rows), 0) FROM _billed"
            if months is None
            else f"SELECT count(*) FROM (SELECT {_MONTH_SQL} AS month FROM {_BILLED_ROWS}){where}"
        ).fetchall()[0][0]
        if rows != billed:
            fast = False
            select = _gpu_hours_select(util, settings, ranked=ranked, dedup=True)
            rows = _copy(con, f"SELECT {cols} FROM ({select}){where}", path, "x_PartMonth")
        staged = None
        if fast and episodes is not None:
            staged = _fast_episodes(con, settings, episodes)
        return Staged(rows, staged)
    finally:
        if owned is not None:
            con.unregister("owned_rates")
        for table in _STAGED_TABLES:
            con.execute(f"DROP TABLE IF EXISTS {table}")


def _episode_columns() -> str:
    return _columns(IDLE_EPISODES, "start", ("host", "gpu_index", "gpu_uuid"))


def _fast_episodes(con: duckdb.DuckDBPyConnection, settings: IdleSettings, path: Path) -> int:
    """Stage idle_episodes rows from `_matched`; returns rows."""
    islands, uuids = con.execute(
        f"SELECT ({_OVERLAPPING_PERIODS}) = 0, "
        "(SELECT count(*) FROM _util_ids WHERE gpu_uuid IS NOT NULL) > 0"
    ).fetchall()[0]
    select = _fast_episodes_select(settings, islands=islands, uuids=uuids)
    return _copy(con, f"SELECT {_episode_columns()} FROM ({select})", path)


def _copy_episodes(
    con: duckdb.DuckDBPyConnection,
    hours: str,
    settings: IdleSettings,
    path: Path,
    *,
    where: str = "true",
    also: str = "",
    params: dict[str, object] | None = None,
) -> int:
    """COPY the episodes of gpu_hours rows `hours` that match `where`, and the IDLE_EPISODES
    rows of `also`, to `path`. Runs are islands unless idle hours of one GPU overlap."""
    cols = _episode_columns()

    def select(islands: bool) -> str:
        runs = idle_episodes_sql(hours, settings, islands=islands)
        return f"SELECT {cols} FROM ({runs}) WHERE {where}" + (f" UNION ALL {also}" if also else "")

    try:
        return _copy(con, select(islands=True), path, params=params)
    except duckdb.InvalidInputException as exc:
        if OVERLAP not in str(exc):
            raise
    return _copy(con, select(islands=False), path, params=params)


def write_idle_episodes(
    con: duckdb.DuckDBPyConnection, hours: str, settings: IdleSettings, path: Path
) -> int:
    """Stage idle_episodes rows (IDLE_EPISODES columns) from gpu_hours rows; returns rows."""
    return _copy_episodes(con, hours, settings, path)


def _touches(start: str, end: str) -> str:
    """An episode whose hours, or the hour either side of them, fall in [start, end): a change
    of gpu_hours rows there can change it."""
    return f'(start - INTERVAL 1 HOUR < {end} AND "end" + INTERVAL 1 HOUR > {start})'


def write_idle_episodes_window(
    con: duckdb.DuckDBPyConnection,
    hours: str,
    old: str,
    months: list[str],
    settings: IdleSettings,
    path: Path,
) -> int:
    """Stage idle_episodes rows after gpu_hours rows were replaced for `months` only.

    The old episodes (`old`) clear of those months are kept; the runs that touch them are
    derived again from the gpu_hours rows (`hours`) they can reach. That equals
    `write_idle_episodes` over the whole table provided `old` is what it gave, with the same
    settings, for the table before the replacement: a run outside the window and its
    neighbouring hours is made of rows the replacement left alone. Where a run that touches
    the window reaches outside it, the old episode holding that stretch says how far (a
    stretch too short to be an episode is under episode_min_hours long). Returns rows.
    """
    ws, we = _month_start(min(months)), _month_start(_next_month(max(months)))
    span = f"INTERVAL {math.ceil(settings.episode_min_hours)} HOUR"
    lo, hi = con.execute(
        f"""SELECT least({ws} - {span}, min(start)), greatest({we} + {span}, max("end"))
        FROM ({old}) WHERE {_touches(ws, we)}"""
    ).fetchall()[0]
    return _copy_episodes(
        con, f"SELECT * FROM ({hours}) WHERE hour >= $lo AND hour < $hi", settings, path,
        where=_touches(ws, we),
        also=f"SELECT {_episode_columns()} FROM ({old}) WHERE NOT {_touches(ws, we)}",
        params={"lo": lo, "hi": hi},
    )  # fmt: skip
