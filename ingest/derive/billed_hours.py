"""The billed GPU period-hours and their telemetry, as SQL: the building blocks of GPU-hours.

Cost lines become billed periods of whole GPUs (owned or rented), staged as DuckDB tables;
telemetry is matched to their hours, deduplicated, and given a state and an idle cost by the
rules of models.idle. `ingest.derive.gpu_hours` assembles these into the written tables.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import duckdb

from models.idle import (
    BILLED_HOURS_SQL,
    BILLED_LINES_SQL,
    CLOUD,
    DEPLOYMENTS,
    GPU_ROWS_SQL,
    MONEY_SQL,
    ONPREM,
    STATES,
    UNMONITORED,
    idle_cost_sql,
    state_sql,
)
from models.schema import MONEY
from models.settings import IdleSettings

US_PER_HOUR = 3_600_000_000
_SCALE = 10**MONEY.scale  # MONEY's unscaled integer per unit
_UNIT = f"CAST('1e-{MONEY.scale}' AS {MONEY_SQL})"  # one unscaled step of MONEY


def next_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y + (m == 12):04d}-{m % 12 + 1:02d}"


def month_start(month: str) -> str:
    """SQL TIMESTAMPTZ literal of a 'YYYY-MM' month's first instant (UTC)."""
    y, m = (int(x) for x in month.split("-"))
    return f"TIMESTAMPTZ '{y:04d}-{m:02d}-01 00:00:00+00'"


def months_sql(column: str, months: list[str]) -> str:
    conds = [
        f"({column} >= {month_start(m)} AND {column} < {month_start(next_month(m))})"
        for m in months
    ]
    return "(" + " OR ".join(conds) + ")" if conds else "false"


# Sources that bill a period in several lines: GCP's detailed export has one line per SKU of
# a VM-hour (its cores, its memory, its GPUs), so a month of GPU VMs is three or more lines
# per billed period. Their lines are grouped per period as they are staged.
GROUPED_SOURCES = ("gcp-bq",)

# A billed period's values from its lines (columns named as `_gpu_lines` has them): the cost
# summed, the longest billing, the most GPUs, the first non-null host and model, and the
# costliest line's team (the first line's among equally costly ones); `x_LineId` is the
# first line's (the least), whose values are the period's `FIRST_LINE` columns.
PERIOD_TOTALS = """min(x_LineId) AS x_LineId, sum(EffectiveCost) AS EffectiveCost,
  max(_billed_h) AS _billed_h, max(x_GpuPerInstance) AS x_GpuPerInstance,
  arg_min(host, x_LineId) FILTER (WHERE host IS NOT NULL) AS host,
  arg_min(gpu_model, x_LineId) FILTER (WHERE gpu_model IS NOT NULL) AS gpu_model,
  arg_max_null(team, row(EffectiveCost, -x_LineId)) AS team"""
FIRST_LINE = ("resource_id", "provider", "source", "currency")
# the same, the first line's columns taken as it is grouped (not joined back to it)
PERIOD_OF_LINES = PERIOD_TOTALS + "".join(
    f", arg_min_null({c}, x_LineId) AS {c}" for c in FIRST_LINE
)


def _periods_sql(*, owned: bool) -> str:
    """One row per (resource key, charge period) of the staged `_gpu_lines`: the resource's
    integer key (_kid), attributes (ENUMs), cost per GPU-hour, sizes, months.

    Most periods have one line, whose values are the period's: only the periods of several
    lines (found by counting lines per integer key and start) are aggregated (PERIOD_TOTALS,
    and FIRST_LINE from the first line), so no step groups or joins every line by strings. A
    source that bills a period in several lines has them grouped as they are staged.
    """
    rounded = (  # sum / (hours x rows), rounded half to even at MONEY's scale as polars does
        "(CASE WHEN _r * 2 > _den OR (_r * 2 = _den AND _q % 2 <> 0) THEN _q + _s ELSE _q END)"
        f"::DECIMAL(38,0) * {_UNIT}"
    )
    cost = unit_cost = "p._unit_cost"
    if owned:
        rates = (
            "LEFT JOIN (SELECT k._kid, o.* FROM owned_rates o JOIN _keys k ON k._key = o._key) o"
            " ON o._kid = p._kid"
        )
        cost = (
            "CASE WHEN p.source = 'onprem' AND o._rate IS NOT NULL THEN "
            "(CASE WHEN make_timestamptz(p._start) >= o._life_end THEN o._rate_after_life "
            f"ELSE o._rate END)::{MONEY_SQL} ELSE {unit_cost} END"
        )
    else:
        rates = ""
    return f"""
WITH dups AS (  -- the periods of several lines: few
  SELECT _kid, _start FROM _gpu_lines GROUP BY _kid, _start HAVING count(*) > 1
), lines AS (
  SELECT l.* FROM _gpu_lines l SEMI JOIN dups d ON d._kid = l._kid AND d._start = l._start
), groups AS (
  SELECT _kid, _start, {PERIOD_TOTALS} FROM lines GROUP BY _kid, _start
), per_period AS (  -- the first line's columns joined back: cheaper than taken as grouped
  SELECT g._kid, g._start, g.EffectiveCost AS _cost, g._billed_h, g.x_GpuPerInstance AS _gpus,
         {", ".join(f"f.{c}" for c in FIRST_LINE)}, g.host, g.gpu_model, g.team
  FROM groups g JOIN lines f ON f.x_LineId = g.x_LineId AND f._kid = g._kid AND f._start = g._start
  UNION ALL
  SELECT _kid, _start, EffectiveCost, _billed_h, x_GpuPerInstance, resource_id, provider,
         source, currency, host, gpu_model, team
  FROM _gpu_lines l
  WHERE NOT EXISTS (SELECT 1 FROM dups d WHERE d._kid = l._kid AND d._start = l._start)
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
SELECT p._kid, p.resource_id, p.host, coalesce(p.gpu_model, 'unknown'::_e_gpu_model) AS gpu_model,
       p.provider, p.source,
       (CASE WHEN p.source = 'onprem' THEN '{ONPREM}' ELSE '{CLOUD}' END)::_e_deployment
         AS deployment,
       coalesce(p.team, 'unallocated'::_e_team) AS team, {cost} AS cost, p.currency,
       p._start, p._rows, p._billed_h * p._rows AS _n_rows,
       CASE WHEN p._billed_h = 1 THEN true  -- one hour: one month, no formatting
            ELSE {_month_of("p._start")}
                 = {_month_of(f"p._start + (p._billed_h - 1) * {US_PER_HOUR}")} END AS _one_month,
       {_month_of("p._start")}::_e_month AS _month
FROM divided p {rates}
"""


def _month_of(epoch_us: str) -> str:
    return f"strftime(make_timestamp({epoch_us}), '%Y-%m')"


# The line columns that become ENUMs, with the value a period takes when its lines have none
_ENUM_SOURCES = {
    "resource_id": ("ResourceId", None),
    "host": ("ResourceName", None),
    "gpu_model": ("x_GpuModelName", "unknown"),
    "provider": ("ProviderName", None),
    "source": ("x_Source", None),
    "team": ("x_Team", "unallocated"),
    "currency": ("BillingCurrency", None),
}


def _months_between(first: str, last: str) -> list[str]:
    out, month = [], first
    while month <= last:
        out.append(month)
        month = next_month(month)
    return out


def _enum(values: list[str]) -> str:
    return "ENUM (" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + ")"


def _scratch_file(con: duckdb.DuckDBPyConnection, name: str) -> Path:
    """A new file name in the connection's spill folder (the system's temporary folder when
    the connection has none of its own); the caller removes the file."""
    folder = Path(con.execute("SELECT current_setting('temp_directory')").fetchall()[0][0])
    if not folder.is_absolute():
        folder = Path(tempfile.gettempdir())
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{uuid.uuid4().hex}.parquet"


def _line_rows(lines: str) -> str:
    """The billed GPU `lines` as `_gpu_lines` names their columns (strings still)."""
    columns = ", ".join(f"{src} AS {col}" for col, (src, _) in _ENUM_SOURCES.items())
    return f"""SELECT x_LineId, {columns}, EffectiveCost, x_GpuPerInstance,
      epoch_us(ChargePeriodStart) AS _start, {BILLED_HOURS_SQL} AS _billed_h
    FROM ({lines}) WHERE {BILLED_LINES_SQL} AND ChargePeriodStart IS NOT NULL"""


def _stage_lines(
    con: duckdb.DuckDBPyConnection, lines: str, grouped: str | None, staged: Path, owned: bool
) -> list[str]:
    """`_billed` (one row per billed period) from the GPU `lines`, and from the `grouped`
    lines one row per period (PERIOD_OF_LINES, grouped by lower-cased resource id and start
    as they are read), through the file `staged`; returns the months their hours fall in."""
    rows = _line_rows(lines)
    if grouped is not None:
        rows += f"""
    UNION ALL BY NAME
    SELECT _start, {PERIOD_OF_LINES}
    FROM ({_line_rows(grouped)}) GROUP BY lower(resource_id), _start"""
    con.execute(
        f"COPY ({rows}) TO $target (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 1)",
        {"target": str(staged)},
    )
    src = con.read_parquet(str(staged))
    src.create_view("_line_file", replace=True)
    for col, (_, default) in _ENUM_SOURCES.items():
        extra = f" UNION SELECT '{default}'" if default else ""
        con.execute(
            f"CREATE OR REPLACE TEMP TYPE _e_{col} AS ENUM "
            f"(SELECT DISTINCT {col} FROM _line_file WHERE {col} IS NOT NULL{extra})"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _keys AS SELECT _key, CAST(row_number() OVER () AS INTEGER)"
        " AS _kid FROM (SELECT DISTINCT lower(resource_id) AS _key FROM _line_file)"
    )
    first, last = con.execute(
        f"SELECT {_month_of('min(_start)')}, "
        f"{_month_of(f'max(_start + (_billed_h - 1) * {US_PER_HOUR})')} FROM _line_file"
    ).fetchall()[0]
    months = _months_between(first, last) if first and last else []
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_month AS {_enum(months)}")
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_state AS {_enum(list(STATES))}")
    con.execute(f"CREATE OR REPLACE TEMP TYPE _e_deployment AS {_enum(list(DEPLOYMENTS))}")
    enums = ", ".join(f"l.{col}::_e_{col} AS {col}" for col in _ENUM_SOURCES)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _gpu_lines AS
        SELECT l.x_LineId, r._kid, {enums}, l.EffectiveCost, l.x_GpuPerInstance, l._start,
               l._billed_h
        FROM _line_file l JOIN (
          SELECT r.resource_id, k._kid FROM (SELECT DISTINCT resource_id FROM _line_file) r
          JOIN _keys k ON k._key = lower(r.resource_id)) r ON r.resource_id = l.resource_id"""
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE _billed AS {_periods_sql(owned=owned)}")
    con.execute("DROP TABLE _gpu_lines")
    con.execute("DROP VIEW _line_file")
    return months


def stage_inputs(
    con: duckdb.DuckDBPyConnection, lines: str, util: str, owned: bool, grouped: str | None = None
) -> list[str]:
    """Small temp tables and ENUM types the row-level query joins to: billed periods with an
    integer resource key, telemetry (resource id, host) pairs keyed to them, uuid ranks.

    The lines are read once, into a Parquet file in the connection's scratch folder (their
    strings dictionary-encoded: a month of hourly lines held as DuckDB strings would spill);
    the ENUM types come from its columns, and the lines are staged with ENUMs and an integer
    resource key, so every later step groups and joins integers. The string columns go out
    as ENUMs, whose Parquet dictionaries DuckDB writes directly. The `grouped` lines (SQL as
    `lines`, of a source billing a period in several lines) are staged one row per period.
    """
    staged = _scratch_file(con, "gpu_lines")
    try:
        months = _stage_lines(con, lines, grouped, staged, owned)
    finally:
        staged.unlink(missing_ok=True)
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
          SELECT _host, min(k._key) AS _hkey
          FROM (SELECT DISTINCT lower(host::VARCHAR) AS _host, _kid FROM _billed
                WHERE host IS NOT NULL)
          JOIN _keys k USING (_kid) GROUP BY 1
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
BILLED_ROWS = f"""(SELECT *, _start + (_j // _rows) * {US_PER_HOUR} AS _h, _j % _rows AS gpu_index
  FROM (SELECT *, unnest(range(_n_rows)) AS _j FROM _billed))"""
# Months are UTC months formatted from naive timestamps (make_timestamp): formatting a
# TIMESTAMPTZ goes through the time zone library and is about 3x slower.
MONTH_SQL = (  # the period's month unless its hours cross into the next
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


def _stated_select(joined: str, state: str, extra: str = "") -> str:
    """GPU_HOURS rows (+ x_PartMonth) from `joined`: billed attributes, _h, gpu_index and the
    telemetry readings (NULL where none); `state` is the SQL of each row's state; `extra`
    more columns of `joined` (", _n")."""
    return f"""
WITH stated AS (
  SELECT *, {state} AS state, {MONTH_SQL} AS month FROM ({joined})
)
SELECT make_timestamptz(_h) AS hour, resource_id, host, gpu_index, gpu_uuid, gpu_model,
       provider, source, deployment, team, cost, currency, avg_active, max_active, mem_used_mib,
       coalesce(samples, 0)::BIGINT AS samples, state,
       {idle_cost_sql()} AS idle_cost,
       month, month AS x_PartMonth{extra}
FROM stated
"""


_ATTRIBUTES = "resource_id, host, gpu_model, provider, source, deployment, team, cost, currency"
_READINGS = "gpu_uuid, avg_active, max_active, mem_used_mib, samples"


def gpu_hours_select(util: str, settings: IdleSettings, *, ranked: bool, dedup: bool) -> str:
    """GPU_HOURS rows (+ x_PartMonth): every billed GPU-hour joined to its telemetry.

    Without `dedup` telemetry is joined as it is: right when no GPU-hour has two telemetry
    rows, which the caller checks from the row count.
    """
    distinct = "DISTINCT ON (_kid, _h, gpu_index)" if dedup else ""
    joined = f"""
  SELECT b.*, {", ".join(f"t.{c}" for c in _READINGS.split(", "))}
  FROM (SELECT _kid, {_ATTRIBUTES}, _one_month, _month, _h, gpu_index FROM {BILLED_ROWS}) b
  LEFT JOIN (SELECT {distinct} * FROM ({_telemetry_sql(util, ranked=ranked)})
             WHERE gpu_index IS NOT NULL) t
    ON t._kid = b._kid AND t._h = b._h AND t.gpu_index = b.gpu_index"""
    return _stated_select(joined, state_sql(settings, "_e_state"))


# The fast path's limit: a bit per GPU row of a period-hour in a BIGINT says which have telemetry
MASK_ROWS = 62


def period_hours(columns: str = "_kid, _rows, _start", where: str = "true") -> str:
    """Each billed period's hours (_h) with `columns` of `_billed`, of the periods `where`
    holds for; a period is its row of _billed (_pid)."""
    return f"""(SELECT *, _start + _i * {US_PER_HOUR} AS _h
  FROM (SELECT rowid AS _pid, {columns}, unnest(range(_n_rows // _rows)) AS _i FROM _billed
        WHERE {where}))"""


def matched_sql(util: str, settings: IdleSettings, *, ranked: bool) -> str:
    """The telemetry of billed GPU-hours, by period (_pid): one row per telemetry row, with
    its state (_state).

    The join is to the period-hours (as many rows as billed lines hourly), not to every
    billed GPU row: GPU rows without telemetry are added by `fast_gpu_hours_select`.
    """
    return f"""
SELECT *, {state_sql(settings, "_e_state")} AS _state FROM (
  SELECT h._pid, h._h, t.gpu_index, {", ".join(f"t.{c}" for c in _READINGS.split(", "))}
  FROM ({_telemetry_sql(util, ranked=ranked)}) t JOIN {period_hours()} h
    ON h._kid = t._kid AND h._h = t._h
  WHERE t.gpu_index >= 0 AND t.gpu_index < h._rows)"""


def fast_gpu_hours_select(*, weighted: bool = False) -> str:
    """GPU_HOURS rows from `_matched` plus the billed GPU rows it lacks, found per
    period-hour from a bit mask of the GPU rows it has (periods of <= MASK_ROWS rows).

    As `gpu_hours_select` without `dedup`, right when no GPU-hour has two telemetry rows
    (then the rows outnumber the billed GPU-hours, which the caller checks). The rows without
    telemetry carry their period's attributes from the start: where most GPUs are
    unmonitored they are most of the rows, and joining them back by period would cost a
    join of every row.

    `weighted`: the rows without telemetry of a period-hour as one row, gpu_index NULL, with
    `_n` the GPU rows it stands for (1 on the rows with telemetry): the GPU-hours for the
    rollups that only count and sum them (models.gpu_rollups.WEIGHABLE), a fraction of the
    rows where most GPUs are unmonitored.
    """
    attributes = ", ".join(f"b.{c}" for c in _ATTRIBUTES.split(", "))
    nulls = (  # no readings: unmonitored, whatever the settings
        "NULL::_e_gpu_uuid, NULL::DOUBLE, NULL::DOUBLE, NULL::DOUBLE, NULL::BIGINT, "
        f"'{UNMONITORED}'::_e_state"
    )
    hours = period_hours("*")
    cover = (
        "SELECT _pid, _h, bit_or(1::BIGINT << gpu_index) AS _mask FROM _matched GROUP BY _pid, _h"
    )
    lacking = "c._mask IS NULL OR c._mask <> (1::BIGINT << b._rows) - 1"
    readings = ", ".join(f"r.{c}" for c in _READINGS.split(", "))
    one = ", 1 AS _n" if weighted else ""
    monitored = f"""
  SELECT {attributes}, b._one_month, b._month, r._h, r.gpu_index, {readings}, r._state{one}
  FROM _matched r JOIN _billed b ON b.rowid = r._pid"""
    if weighted:
        joined = f"""
  WITH cover AS ({cover}){monitored}
  UNION ALL
  SELECT {attributes}, b._one_month, b._month, b._h, NULL::BIGINT AS gpu_index, {nulls},
         b._rows - bit_count(coalesce(c._mask, 0)) AS _n
  FROM {hours} b LEFT JOIN cover c ON c._pid = b._pid AND c._h = b._h
  WHERE {lacking}"""
        return _stated_select(joined, "_state", ", _n")
    joined = f"""
  WITH cover AS ({cover}){monitored}
  UNION ALL
  SELECT {_ATTRIBUTES}, _one_month, _month, _h, gpu_index, {nulls} FROM (
    SELECT {attributes}, b._one_month, b._month, b._h, c._mask,
           unnest(range(b._rows)) AS gpu_index
    FROM {hours} b LEFT JOIN cover c ON c._pid = b._pid AND c._h = b._h
    WHERE {lacking})
  WHERE _mask IS NULL OR (_mask >> gpu_index) & 1 = 0"""
    return _stated_select(joined, "_state")
