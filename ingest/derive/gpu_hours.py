"""GPU-hours and idle episodes computed in DuckDB, streamed to staged Parquet files.

The one production implementation of GPU-hours, idle states and episodes: the rules are the
definitions of models.idle (`state_sql`, `idle_cost_sql`, `episode_state_sql`,
`BILLED_LINES_SQL`, `BILLED_HOURS_SQL`, `GPU_ROWS_SQL`); this module runs them as SQL, so a
year of GPU-hours is joined and written with bounded memory (DuckDB spills to the staging
directory beyond `memory_limit`); the billed period-hours and telemetry SQL it assembles is
`ingest.derive.billed_hours`. The tests compare it with a polars oracle, row for row.

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

import functools
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import duckdb
import polars as pl

from ingest.derive.billed_hours import (
    BILLED_ROWS,
    MASK_ROWS,
    MONTH_SQL,
    US_PER_HOUR,
    fast_gpu_hours_select,
    gpu_hours_select,
    matched_sql,
    month_start,
    months_sql,
    next_month,
    period_hours,
    stage_inputs,
)
from models.idle import (
    GPU_HOURS,
    HARD_IDLE,
    IDLE_EPISODES,
    IDLE_IN_SQL,
    MONEY_SQL,
    OWNED_RATES_SCHEMA,
    episode_state_sql,
)
from models.schema import Table
from models.settings import EngineSettings, IdleSettings

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


_EPISODE_AGGREGATES = f"""
       arg_min_null(host, hour) AS host,
       arg_min(gpu_uuid, hour) FILTER (WHERE gpu_uuid IS NOT NULL) AS gpu_uuid,
       arg_min_null(gpu_model, hour) AS gpu_model, arg_min_null(provider, hour) AS provider,
       arg_min_null(team, hour) AS team, arg_min_null(currency, hour) AS currency,
       min(hour) AS start,
       max(hour) + INTERVAL 1 HOUR AS "end", {{hours}} AS hours,
       sum(idle_cost)::{MONEY_SQL} AS cost,
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
FROM idle GROUP BY {key}, epoch_us(hour) - _rn * {US_PER_HOUR}
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
    us = US_PER_HOUR
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
       r._n AS hours, r.cost::{MONEY_SQL} AS cost, b.currency,
       {episode_state_sql("r._hard")} AS state
FROM runs r JOIN _billed b ON b.rowid = r._pid
"""


# Runs are made of idle hours only: the periods of resources without one cannot break them
# (a month of unmonitored GPUs, the usual cloud month, expands no period into its hours here).
_IDLE_KIDS = f"""_kid IN (SELECT b._kid FROM _matched m JOIN _billed b ON b.rowid = m._pid
                WHERE m._state IN {IDLE_IN_SQL})"""
_OVERLAPPING_PERIODS = f"""SELECT count(*) FROM (
  SELECT _kid, _h FROM {period_hours(where=_IDLE_KIDS)} GROUP BY _kid, _h HAVING count(*) > 1)"""


def _columns(table: Table, always: str, guard: tuple[str, ...]) -> str:
    """The table's columns, the `guard` ones marked nullable: DuckDB writes a column it knows
    to hold no NULLs as required, and the first file of a Delta table fixes its schema."""
    return ", ".join(
        f'CASE WHEN "{always}" IS NOT NULL THEN "{c.name}" END AS "{c.name}"'
        if c.name in guard
        else f'"{c.name}"'
        for c in table.columns
    )


ONE_PARTITION = "rows of more than one partition in a copy of one"


def _copy(
    con: duckdb.DuckDBPyConnection,
    select: str,
    path: Path,
    partition_by: str | None = None,
    params: dict[str, object] | None = None,
    only: str | None = None,
) -> int:
    """COPY to one file, or with `partition_by` to a folder of `col=value/` files (which
    are replaced whole when the copy is repeated).

    `only` is the one `partition_by` value every row has (a month's refresh): its rows are
    written as that folder's one file, as DuckDB's partitioned write would write them but
    without its pass that sorts rows into partitions (three quarters more CPU on a month of
    GPU-hours); a row of another value fails the copy (ONE_PARTITION), nothing is misfiled.
    """
    options = "FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1"
    target = path
    if partition_by:
        shutil.rmtree(path, ignore_errors=True)
        if only is None:
            options += f", PARTITION_BY ({partition_by})"
        else:
            target = path / f"{partition_by}={only}" / "data_0.parquet"
            target.parent.mkdir(parents=True)
            select = (
                f"SELECT * EXCLUDE ({partition_by}) FROM ({select}) WHERE CASE "
                f"WHEN {partition_by} = $copy_only THEN true ELSE error('{ONE_PARTITION}') END"
            )
            params = {**(params or {}), "copy_only": only}
    # the target is a bound value: a warehouse folder's name is never SQL
    bound = {**(params or {}), "copy_target": str(target)}
    out = con.execute(f"COPY ({select}) TO $copy_target ({options})", bound).fetchall()
    rows = int(out[0][0]) if out else 0
    if target is not path and not rows:
        shutil.rmtree(target.parent)  # as a partitioned write of no rows: no file
    return rows


_STAGED_TABLES = (
    "_gpu_lines", "_keys", "_billed", "_util_ids", "_pairs", "_ranks", "_matched"
)  # fmt: skip


class Staged(NamedTuple):
    """What `write_gpu_hours` staged: gpu_hours rows, and idle_episodes rows when it could
    stage them too (None: derive them from the gpu_hours table with `write_idle_episodes`);
    the rollups it staged from weighted rows, by table name (the others are built from the
    staged hours)."""

    rows: int
    episodes: int | None
    rollups: dict[str, Path] | None = None


# Stages rollups from weighted GPU-hours (SQL with a `_n` column) whose rows all fall in the
# one month given, if one: ingest.derive.gpu_rollups.stage_weighted.
WeightedRollups = Callable[[duckdb.DuckDBPyConnection, str, "str | None"], dict[str, Path]]


def writer(engine: EngineSettings) -> Callable[..., Staged]:
    """`write_gpu_hours` on the engine the settings name: on Spark, each resource's hours in a
    task of its own running this module's one definition."""
    if engine.name != "spark":
        return write_gpu_hours
    from ingest.engines import spark_gpu_hours

    return functools.partial(spark_gpu_hours.write_gpu_hours, engine)


def write_gpu_hours(
    con: duckdb.DuckDBPyConnection,
    lines: str,
    util: str,
    owned: pl.DataFrame | None,
    settings: IdleSettings,
    path: Path,
    months: list[str] | None = None,
    episodes: Path | None = None,
    rollups: WeightedRollups | None = None,
    grouped: str | None = None,
) -> Staged:
    """Stage gpu_hours rows (GPU_HOURS columns) in `path`, a folder of `x_PartMonth=YYYY-MM/`
    files, and with `episodes` (all months only) idle_episodes rows in that file.

    `lines`/`util` are SQL relations on `con`; `months` limits lines, telemetry and hours to
    those months (a line's hours stay in the month it starts in). `rollups`, on the fast
    path, is given the same GPU-hours with a period-hour's unmonitored GPUs as one row.
    `grouped`: more lines, of sources that bill a period in several lines (`stage_inputs`).
    """
    if months is not None:
        lines = f"SELECT * FROM ({lines}) WHERE {months_sql('ChargePeriodStart', months)}"
        if grouped is not None:
            grouped = f"SELECT * FROM ({grouped}) WHERE {months_sql('ChargePeriodStart', months)}"
        util = f"SELECT * FROM ({util}) WHERE {months_sql('hour', months)}"
        episodes = None  # episodes span months: they come from the whole table
    if owned is not None:
        con.register("owned_rates", owned.cast(OWNED_RATES_SCHEMA).to_arrow())
    try:
        known = stage_inputs(con, lines, util, owned is not None, grouped)
        n_ranked, widest = con.execute(
            "SELECT (SELECT count(*) FROM _ranks), (SELECT coalesce(max(_rows), 0) FROM _billed)"
        ).fetchall()[0]
        ranked = n_ranked > 0  # telemetry without GPU indexes, ranked by uuid
        cols = _columns(GPU_HOURS, "hour", ("host", "gpu_index")) + ', "x_PartMonth"'
        where = ""
        if months is not None:
            listed = ", ".join(f"'{m}'::_e_month" for m in months if m in known) or "NULL"
            where = f" WHERE month IN ({listed})"
        fast = widest <= MASK_ROWS
        if fast:
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _matched AS "
                + matched_sql(util, settings, ranked=ranked)
            )
            select = fast_gpu_hours_select()
        else:
            select = gpu_hours_select(util, settings, ranked=ranked, dedup=False)
        # the months the rows fall in: one for a month's load, written without partitioning
        targets = known if months is None else [m for m in months if m in known]
        only = targets[0] if len(targets) == 1 else None
        rows = _copy(con, f"SELECT {cols} FROM ({select}){where}", path, "x_PartMonth", only=only)
        billed = con.execute(  # one row per billed GPU-hour unless telemetry had duplicates
            "SELECT coalesce(sum(_n_rows), 0) FROM _billed"
            if months is None
            else f"SELECT count(*) FROM (SELECT {MONTH_SQL} AS month FROM {BILLED_ROWS}){where}"
        ).fetchall()[0][0]
        if rows != billed:
            fast = False
            select = gpu_hours_select(util, settings, ranked=ranked, dedup=True)
            rows = _copy(
                con, f"SELECT {cols} FROM ({select}){where}", path, "x_PartMonth", only=only
            )
        staged = None
        if fast and episodes is not None:
            staged = _fast_episodes(con, settings, episodes)
        weighted = None
        if fast and rollups is not None:
            select = fast_gpu_hours_select(weighted=True)
            weighted = rollups(con, f"SELECT * FROM ({select}){where}", only)
        return Staged(rows, staged, weighted)
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


def episode_window(
    con: duckdb.DuckDBPyConnection, old: str, months: list[str], settings: IdleSettings
) -> tuple[object, object]:
    """[lo, hi): the hours of gpu_hours that `write_idle_episodes_window` reads for `months`,
    given the old episodes `old`: the months, episode_min_hours either side, and the old
    episodes that touch them whole."""
    ws, we = month_start(min(months)), month_start(next_month(max(months)))
    span = f"INTERVAL {math.ceil(settings.episode_min_hours)} HOUR"
    lo, hi = con.execute(
        f"""SELECT least({ws} - {span}, min(start)), greatest({we} + {span}, max("end"))
        FROM ({old}) WHERE {_touches(ws, we)}"""
    ).fetchall()[0]
    return lo, hi


def split_by_month(con: duckdb.DuckDBPyConnection, episodes: Path, folder: Path) -> dict:
    """Copy staged idle_episodes rows to `folder`, one `x_PartMonth=YYYY-MM/` folder per
    month of their start, as the table is partitioned; returns {month: latest end (ISO)},
    what a later refresh needs to know which months' episodes can reach its window."""
    month = "strftime(make_timestamp(epoch_us(start)), '%Y-%m')"
    select = f"SELECT {_episode_columns()}, {month} AS x_PartMonth FROM read_parquet($src)"
    bound = {"src": str(episodes)}
    _copy(con, select, folder, "x_PartMonth", bound)
    rows = con.execute(
        f'SELECT {month}, max("end") FROM read_parquet($src) GROUP BY 1', bound
    ).fetchall()
    return {m: end.isoformat() for m, end in rows}


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
    ws, we = month_start(min(months)), month_start(next_month(max(months)))
    lo, hi = episode_window(con, old, months, settings)
    return _copy_episodes(
        con, f"SELECT * FROM ({hours}) WHERE hour >= $lo AND hour < $hi", settings, path,
        where=_touches(ws, we),
        also=f"SELECT {_episode_columns()} FROM ({old}) WHERE NOT {_touches(ws, we)}",
        params={"lo": lo, "hi": hi},
    )  # fmt: skip
