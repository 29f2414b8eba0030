"""The dashboard's reads: parameterised SQL over the warehouse views, aggregates as polars frames.

Every value a user can choose reaches DuckDB as a bound parameter; the only SQL text built at
run time picks a column from a fixed whitelist (`DIMENSIONS`). A connection is prepared once
per warehouse snapshot (`prepare`): the spend lines are rolled up by day into small in-memory
tables, so page queries scan thousands of rows rather than millions, and only the drill-down
(`queries_lines`, with the tag-key breakdown) reads line items, a page at a time.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from ingest.warehouse import connection as warehouse
from models.cost_basis import CostBasis
from models.rules import EGRESS, NOT_AI_CLASSES, SAAS_TOOL
from models.schema import sql_list

# What the explorer can break spend down by: label -> rollup column.
DIMENSIONS: dict[str, str] = {
    "provider": "provider",
    "service": "service",
    "team": "team",
    "project": "project",
    "environment": "env",
    "region": "region",
    "AI class": "ai_class",
    "workload": "workload",
    "account": "account",
}
# The same dimensions over line items (for the drill-down), by label.
LINE_COLUMNS: dict[str, str] = {
    "provider": "provider",
    "service": "ServiceName",
    "team": "x_Team",
    "project": "x_Project",
    "environment": "x_Environment",
    "region": "RegionId",
    "AI class": "x_AiClass",
    "workload": "x_Workload",
    "account": "SubAccountName",
}
CLASSIFIED = "classified_costs"
UNSET = "(not set)"
# A line of AI spend: classified, and of a class other than NOT_AI_CLASSES.
AI_SPEND = f"ai_class NOT IN {sql_list((*NOT_AI_CLASSES, UNSET))}"

_PROVIDER = (
    "CASE WHEN x_Source = 'onprem' THEN ProviderName || coalesce(' · ' || RegionName, '') "
    "ELSE ProviderName END"
)
_TAG = "nullif(json_extract_string(Tags, '$.{0}'), '')"
# Classification columns when classified_costs is not built yet: tags, else unknown.
_UNCLASSIFIED = (
    f"SELECT *, {_PROVIDER} AS provider, {_TAG.format('team')} AS x_Team, "
    f"{_TAG.format('project')} AS x_Project, "
    f"coalesce({_TAG.format('env')}, {_TAG.format('environment')}) AS x_Environment, "
    "CAST(NULL AS VARCHAR) AS x_AiClass, CAST(NULL AS VARCHAR) AS x_Workload, "
    "CAST(NULL AS VARCHAR) AS x_EgressKind, CAST(NULL AS VARCHAR) AS x_ToolFamily "
    "FROM cost_lines"
)

# Gigabytes moved, from the units the exports use: GB (AWS, FOCUS), "1 GB" or "10 GB" blocks
# (Azure), gibibyte (GCP); NULL for other units, such as a NAT gateway's hours.
_BLOCK = r"coalesce(TRY_CAST(regexp_extract(ConsumedUnit, '^\s*(\d+)\s', 1) AS DOUBLE), 1)"
_GB = rf"""(CAST(ConsumedQuantity AS DOUBLE) * {_BLOCK} * CASE
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(GB|gigabytes?)\s*$', 'i') THEN 1
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(GiB|gibibytes?)\s*$', 'i') THEN 1.073741824
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(TB|terabytes?)\s*$', 'i') THEN 1000
    WHEN regexp_matches(ConsumedUnit, '^\s*(\d+\s+)?(TiB|tebibytes?)\s*$', 'i')
      THEN 1099.511627776
    END)"""

_FILTER = """
    ($start IS NULL OR day >= $start) AND ($end IS NULL OR day <= $end)
    AND (len(CAST($providers AS VARCHAR[])) = 0
         OR list_contains(CAST($providers AS VARCHAR[]), provider))
    AND (len(CAST($teams AS VARCHAR[])) = 0 OR list_contains(CAST($teams AS VARCHAR[]), team))
    AND (len(CAST($envs AS VARCHAR[])) = 0 OR list_contains(CAST($envs AS VARCHAR[]), env))
"""


def _sums(gb: str | None = None) -> str:
    """The rollups keep one money column per cost basis, named by it (`amortised`, `billed`),
    so a page switches basis without rebuilding; with `gb`, also each basis' cost of the
    lines billed by volume (`gb_amortised`, `gb_billed`)."""
    out = [f"sum({b.column}) AS {b.value}" for b in CostBasis]
    if gb:
        out += [
            f"sum({b.column}) FILTER (WHERE {gb} IS NOT NULL) AS gb_{b.value}" for b in CostBasis
        ]
    return ", ".join(out)


def amount(f: Filters) -> str:
    """The rollup column that holds the filters' cost basis (see `_sums`)."""
    return f.basis.value


def snapshot_key(root: Path | str) -> tuple[tuple[str, int | None], ...]:
    """Version of every Delta table in the warehouse: a new load gives a new key.

    Derived tables (classified_costs, gpu_hours, ...) are refreshed after the base load, so
    they are part of the key too.
    """
    root = Path(root)
    out = dict(warehouse.versions(root))
    if root.is_dir():
        for log in sorted(root.glob("*/_delta_log")):
            if log.parent.name not in out:
                commits = [p.stem for p in log.glob("*.json")]
                out[log.parent.name] = max((int(c) for c in commits if c.isdigit()), default=None)
    return tuple(sorted(out.items()))


def has_data(root: Path | str) -> bool:
    return dict(snapshot_key(root)).get("cost_lines") is not None


def relations(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    ).fetchall()
    return {r[0] for r in rows}


# Derived datasets and the column that is set once they are built.
DERIVED = {CLASSIFIED: "x_AiClass", "gpu_hours": "state", "idle_episodes": "hours"}
_AVAILABLE = "snapshot_available"  # what `available` found when the snapshot was prepared


def available(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Derived datasets that exist and hold rows (they exist empty before `finops classify`).

    Asking scans the classified lines, so a prepared snapshot keeps the answer (`_AVAILABLE`).
    """
    have = relations(con)
    if _AVAILABLE in have:
        return {r[0] for r in con.execute(f"SELECT name FROM {_AVAILABLE}").fetchall()}
    out = set()
    for name, col in DERIVED.items():
        if name in have:
            sql = f'SELECT EXISTS (SELECT 1 FROM "{name}" WHERE "{col}" IS NOT NULL)'
            if con.execute(sql).fetchall()[0][0]:
                out.add(name)
    return out


def lines_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The line items with classification columns (from tags where not classified yet)."""
    if CLASSIFIED in available(con):
        return f"SELECT *, {_PROVIDER} AS provider FROM {CLASSIFIED}"
    return _UNCLASSIFIED


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Roll the snapshot up (once per snapshot; pages query the rollups, not the lines)."""
    from dashboard.queries import gpu as queries_gpu
    from dashboard.queries import health as queries_health
    from dashboard.queries import lines as queries_lines

    have = available(con)
    con.execute(
        f"CREATE OR REPLACE TABLE {_AVAILABLE} AS SELECT unnest(CAST($names AS VARCHAR[])) AS name",
        {"names": sorted(have)},
    )
    if "gpu_hours" in have:
        queries_gpu.prepare(con)
    queries_health.prepare(con)
    lines = lines_sql(con)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE spend_daily AS
        SELECT CAST(ChargePeriodStart AS DATE) AS day, provider, ProviderName AS provider_name,
               ServiceName AS service, coalesce(x_Team, '{UNSET}') AS team,
               coalesce(x_Project, '{UNSET}') AS project,
               coalesce(x_Environment, '{UNSET}') AS env, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(x_AiClass, '{UNSET}') AS ai_class,
               coalesce(x_Workload, '{UNSET}') AS workload,
               coalesce(SubAccountName, SubAccountId, BillingAccountId) AS account,
               BillingCurrency AS currency,
               (Tags IS NOT NULL AND json_extract_string(Tags, '$.team') IS NOT NULL) AS tagged,
               -- days the charge covers: a monthly fee is spread over them by the anomaly
               -- detector, not read as a spike on the 1st
               greatest(date_diff('day', CAST(ChargePeriodStart AS DATE),
                                  CAST(ChargePeriodEnd - INTERVAL 1 MICROSECOND AS DATE)) + 1, 1)
                   AS days,
               {_sums()}, count(*) AS lines,
               max(EffectiveCost) AS max_cost
        FROM ({lines}) GROUP BY ALL
        """
    )
    queries_lines.prepare(con, lines)
    con.execute(
        f"""
        CREATE OR REPLACE TABLE egress_daily AS
        SELECT CAST(ChargePeriodStart AS DATE) AS day, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_EgressKind, '{UNSET}') AS kind, coalesce(RegionId, '{UNSET}') AS region,
               coalesce(nullif(regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS',
                                              ['a', 'b']).a, '') || ' → ' ||
                        regexp_extract(x_UsageType, '^([A-Z]+[0-9]?)-([A-Z]+[0-9]?)-AWS',
                                       ['a', 'b']).b,
                        coalesce(RegionId, '?') || ' → ' || coalesce(x_EgressKind, '?'))
                   AS region_pair,
               coalesce(ResourceId, '{UNSET}') AS resource, BillingCurrency AS currency,
               {_sums(_GB)}, sum({_GB}) AS gb
        FROM ({lines}) WHERE x_AiClass = '{EGRESS}' GROUP BY ALL
        """
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE tools_monthly AS
        SELECT CAST(date_trunc('month', ChargePeriodStart) AS DATE) AS month, provider,
               coalesce(x_Team, '{UNSET}') AS team, coalesce(x_Environment, '{UNSET}') AS env,
               coalesce(x_ToolFamily, '{UNSET}') AS family,
               coalesce(ServiceName, ProviderName) AS tool, BillingCurrency AS currency,
               {_sums()}, sum(x_Seats) AS seats,
               sum(x_ActiveSeats) AS active_seats
        FROM ({lines})
        WHERE x_AiClass = '{SAAS_TOOL}' OR x_ToolFamily IS NOT NULL OR x_Source = 'saas'
        GROUP BY ALL
        """
    )


def frame(con: duckdb.DuckDBPyConnection, sql: str, params: dict | None = None) -> pl.DataFrame:
    return con.sql(sql, params=params or {}).pl()


def _p(f: Filters, **extra: object) -> dict[str, object]:
    return {**f.params(), **extra}


# ---- filters and their choices ---------------------------------------------------------------


def choices(con: duckdb.DuckDBPyConnection) -> dict[str, object]:
    """What the global filters can offer: the data's date range, providers, teams, envs."""
    span = con.execute("SELECT min(day), max(day) FROM spend_daily").fetchall()[0]
    out: dict[str, object] = {"first": span[0], "last": span[1]}
    for name in ("provider", "team", "env"):
        rows = con.execute(f"SELECT DISTINCT {name} FROM spend_daily ORDER BY 1").fetchall()
        out[name] = [r[0] for r in rows if r[0] is not None]
    return out


# ---- spend -----------------------------------------------------------------------------------


def currencies(con: duckdb.DuckDBPyConnection, f: Filters) -> pl.DataFrame:
    return frame(
        con,
        f"SELECT currency, sum({amount(f)}) AS cost FROM spend_daily WHERE {_FILTER} "
        "GROUP BY 1 ORDER BY cost DESC",
        _p(f),
    )


def monthly(con: duckdb.DuckDBPyConnection, f: Filters, by: str, currency: str) -> pl.DataFrame:
    """Spend per month and `by` (a DIMENSIONS label)."""
    col = DIMENSIONS[by]
    return frame(
        con,
        f"""SELECT date_trunc('month', day) AS month, {col} AS key, sum({amount(f)}) AS cost
            FROM spend_daily WHERE {_FILTER} AND currency = $cur
            GROUP BY ALL ORDER BY month, cost DESC""",
        _p(f, cur=currency),
    )


def headline(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> dict[str, object]:
    """Totals for the Overview tiles: period, this (latest) month, last month, tags, egress."""
    row = con.execute(
        f"""
        WITH s AS (SELECT *, {amount(f)} AS cost FROM spend_daily
                   WHERE {_FILTER} AND currency = $cur),
        m AS (SELECT date_trunc('month', max(day)) AS this FROM s)
        SELECT sum(cost), sum(cost) FILTER (WHERE date_trunc('month', day) = (SELECT this FROM m)),
               sum(cost) FILTER (WHERE date_trunc('month', day)
                                 = (SELECT this FROM m) - INTERVAL 1 MONTH),
               (SELECT this FROM m),
               sum(cost) FILTER (WHERE tagged), sum(cost) FILTER (WHERE NOT tagged),
               sum(cost) FILTER (WHERE ai_class = '{EGRESS}'),
               sum(cost) FILTER (WHERE {AI_SPEND})
        FROM s
        """,
        _p(f, cur=currency),
    ).fetchall()[0]
    keys = ("total", "this_month", "last_month", "month", "tagged", "untagged", "egress", "ai")
    return dict(zip(keys, row, strict=True))


def movers(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str, by: str = "service", n: int = 8
) -> pl.DataFrame:
    """The largest changes from last month to the latest month, by `by`."""
    col = DIMENSIONS[by]
    return frame(
        con,
        f"""
        WITH s AS (SELECT *, {amount(f)} AS cost FROM spend_daily
                   WHERE {_FILTER} AND currency = $cur),
        m AS (SELECT date_trunc('month', max(day)) AS this FROM s),
        k AS (SELECT {col} AS key,
                     coalesce(sum(cost) FILTER (WHERE date_trunc('month', day)
                                                = (SELECT this FROM m)), 0) AS this_month,
                     coalesce(sum(cost) FILTER (WHERE date_trunc('month', day)
                                   = (SELECT this FROM m) - INTERVAL 1 MONTH), 0) AS last_month
              FROM s GROUP BY 1)
        SELECT key, last_month, this_month, this_month - last_month AS change FROM k
        ORDER BY abs(change) DESC, key LIMIT $n
        """,
        _p(f, cur=currency, n=n),
    )


def breakdown(con: duckdb.DuckDBPyConnection, f: Filters, by: str, currency: str) -> pl.DataFrame:
    col = DIMENSIONS[by]
    return frame(
        con,
        f"""SELECT {col} AS key, sum({amount(f)}) AS cost, sum(lines)::BIGINT AS lines
            FROM spend_daily WHERE {_FILTER} AND currency = $cur
            GROUP BY 1 ORDER BY cost DESC, key""",
        _p(f, cur=currency),
    )


def daily(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.DataFrame:
    """Daily spend per service, team, AI class and provider, each with the days it covers
    (input of the anomaly detector, which spreads a monthly fee over its month)."""
    return frame(
        con,
        f"""SELECT CAST(day AS TIMESTAMPTZ) AS ChargePeriodStart,
                   CAST(day + CAST(days AS INTEGER) AS TIMESTAMPTZ) AS ChargePeriodEnd,
                   provider_name AS ProviderName, service AS ServiceName, team AS x_Team,
                   ai_class AS x_AiClass, sum({amount(f)}) AS EffectiveCost
            FROM spend_daily WHERE {_FILTER} AND currency = $cur GROUP BY ALL""",
        _p(f, cur=currency),
    )


def anomaly_drivers(
    con: duckdb.DuckDBPyConnection,
    basis: CostBasis,
    currency: str,
    by: str,
    key: str,
    start: date,
    end: date,
    window_days: int = 28,
    n: int = 5,
) -> pl.DataFrame:
    """Resources that drove an anomaly: spend in it less their own daily baseline over the
    `window_days` before it (models/anomaly.py's definition), largest first."""
    col = LINE_COLUMNS[by]
    return frame(
        con,
        f"""
        WITH l AS (SELECT coalesce(ResourceId, '(no resource id)') AS resource,
                          CAST(ChargePeriodStart AS DATE) AS d, {CostBasis(basis).column} AS c
                   FROM ({lines_sql(con)})
                   WHERE BillingCurrency = $cur
                     AND coalesce(CAST({col} AS VARCHAR), '{UNSET}') = $key
                     AND ChargePeriodStart >= CAST($a AS TIMESTAMPTZ) - to_days($w)
                     AND ChargePeriodStart < CAST($b AS TIMESTAMPTZ) + INTERVAL 1 DAY)
        SELECT resource,
               coalesce(sum(c) FILTER (WHERE d >= $a), 0) AS during,
               coalesce(sum(c) FILTER (WHERE d < $a), 0) / $w AS baseline_per_day,
               during - baseline_per_day * $days AS excess
        FROM l GROUP BY 1 HAVING excess > 0 ORDER BY excess DESC, resource LIMIT $n
        """,
        {
            "cur": currency,
            "key": key,
            "a": start,
            "b": end,
            "w": window_days,
            "days": (end - start).days + 1,
            "n": n,
        },
    )
