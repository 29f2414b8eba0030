"""The dashboard's reads: parameterised SQL over the warehouse views, aggregates as polars frames.

Every value a user can choose reaches DuckDB as a bound parameter; the only SQL text built at
run time picks a column from a fixed whitelist (`DIMENSIONS`). Page queries read the rollups
that every ingest maintains (`spend_daily`, `egress_daily`, `tools_monthly`, ...; built by
ingest/derive/rollups.py), so they scan thousands of rows rather than millions and the first
request after a load reads no cost line; only the drill-down (`queries_lines`) and the anomaly
drivers read line items, with filters and a LIMIT.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from ingest.derive.rollups import GB as _GB  # noqa: F401 (for the pages that convert units)
from ingest.derive.rollups import PROVIDER as _PROVIDER
from ingest.derive.rollups import UNSET
from ingest.warehouse import connection as warehouse
from models.cost_basis import CostBasis
from models.rules import EGRESS, NOT_AI_CLASSES
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
# Drill-down dimensions that are columns of cost_lines itself (no classification needed).
LINE_NATIVE = ("provider", "service", "region", "account")
# A line of AI spend: classified, and of a class other than NOT_AI_CLASSES.
AI_SPEND = f"ai_class NOT IN {sql_list((*NOT_AI_CLASSES, UNSET))}"

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

_FILTER = """
    ($start IS NULL OR day >= $start) AND ($end IS NULL OR day <= $end)
    AND (len(CAST($providers AS VARCHAR[])) = 0
         OR list_contains(CAST($providers AS VARCHAR[]), provider))
    AND (len(CAST($teams AS VARCHAR[])) = 0 OR list_contains(CAST($teams AS VARCHAR[]), team))
    AND (len(CAST($envs AS VARCHAR[])) = 0 OR list_contains(CAST($envs AS VARCHAR[]), env))
"""


def amount(f: Filters) -> str:
    """The rollup column that holds the filters' cost basis (see `_sums`)."""
    return f.basis.value


def snapshot_key(root: Path | str) -> tuple[tuple[str, int | None], ...]:
    """Version of every Delta table in the warehouse: a new load gives a new key.

    Derived tables (classified_costs, gpu_hours, ...) are refreshed after the base load, so
    they are part of the key too.
    """
    root = warehouse.location(root)
    # Every page asks it for every answer, so it lists each table's log rather than open the
    # table (a Delta open reads its log: about 20 of them a page). A damaged table is
    # refused when the snapshot is opened (`warehouse.connect`).
    out: dict[str, int | None] = {t.name: None for t in warehouse.BASE_TABLES}
    if not isinstance(root, Path):  # object storage: its tables listed, their logs read
        out |= warehouse.remote_versions(root)
    elif root.is_dir():
        for log in sorted(root.glob("*/_delta_log")):
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


# Derived datasets and the relation and column that are set once they are built: the lines'
# classes are asked of line_classes, which a reader opens without the cost lines.
DERIVED = {
    CLASSIFIED: ("line_classes", "x_ClassKey"),
    "gpu_hours": ("gpu_hours", "state"),
    "idle_episodes": ("idle_episodes", "hours"),
}
_AVAILABLE = "snapshot_available"  # what `available` found when the snapshot was prepared


def available(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Derived datasets that exist and hold rows (they exist empty before `finops classify`).

    The rows a snapshot's Delta log counts answer it without opening a file (the column
    asked is never NULL in a table that stores it); else each answer stops at the first row
    of a derived table, never scanning cost lines. A prepared snapshot keeps the answer
    (`_AVAILABLE`)."""
    have = relations(con)
    if _AVAILABLE in have:
        return {r[0] for r in con.execute(f"SELECT name FROM {_AVAILABLE}").fetchall()}
    logged = _logged_rows(con)
    out = set()
    for name, (relation, col) in DERIVED.items():
        if name not in have or relation not in have:
            continue
        if logged.get(relation) is not None:
            held = logged[relation] > 0
        else:
            sql = f'SELECT EXISTS (SELECT 1 FROM "{relation}" WHERE "{col}" IS NOT NULL)'
            held = con.execute(sql).fetchall()[0][0]
        if held:
            out.add(name)
    return out


def _logged_rows(con: duckdb.DuckDBPyConnection) -> dict[str, int | None]:
    """Each table's rows as its Delta log counts them (recorded by `warehouse.connect`)."""
    try:
        return dict(con.execute("SELECT dataset, rows FROM finops_snapshot()").fetchall())
    except (duckdb.CatalogException, duckdb.BinderException):  # not a warehouse connection
        return {}


def lines_sql(con: duckdb.DuckDBPyConnection) -> str:
    """The line items with classification columns (from tags where not classified yet)."""
    if CLASSIFIED in available(con):
        return f"SELECT *, {_PROVIDER} AS provider FROM {CLASSIFIED}"
    return _UNCLASSIFIED


# The rollups pages read, maintained at ingest: a warehouse written before they existed has
# cost lines but not these until its next ingest, vacuum or classify.
ROLLUPS = ("spend_daily", "billed_periods")


def rollups_built(root: Path | str) -> bool:
    """Whether the warehouse holds the rollups the pages read (read from the Delta logs)."""
    key = dict(snapshot_key(root))
    return all(key.get(name) is not None for name in ROLLUPS)


def prepare(con: duckdb.DuckDBPyConnection) -> None:
    """Once per snapshot: remember what is available. Every rollup is read as stored (the
    cost lines' in ingest/derive/rollups.py, the GPU-hours' in ingest/derive/gpu_rollups.py),
    so no cost line is read here."""
    from dashboard.queries import gpu as queries_gpu

    have = available(con)
    con.execute(
        f"CREATE OR REPLACE TABLE {_AVAILABLE} AS SELECT unnest(CAST($names AS VARCHAR[])) AS name",
        {"names": sorted(have)},
    )
    if "gpu_hours" in have:
        queries_gpu.prepare(con)


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


# What the Overview's "untagged" figure is (the rule: ingest.derive.rollups.TAGGED).
UNTAGGED = (
    "Untagged spend: the cost of the lines whose tags give no value to `team`, credits and "
    "refunds included, on the chosen cost basis and in this currency."
)


def headline(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> dict[str, object]:
    """Totals for the Overview tiles: period, this (latest) month, last month, tagged and
    untagged (`UNTAGGED`; tagged + untagged = total), egress, AI spend."""
    row = con.execute(
        f"""
        WITH s AS (SELECT *, {amount(f)} AS cost FROM spend_daily
                   WHERE {_FILTER} AND currency = $cur),
        m AS (SELECT date_trunc('month', max(day)) AS this FROM s)
        SELECT sum(cost), sum(cost) FILTER (WHERE date_trunc('month', day) = (SELECT this FROM m)),
               sum(cost) FILTER (WHERE date_trunc('month', day)
                                 = (SELECT this FROM m) - INTERVAL 1 MONTH),
               (SELECT this FROM m),
               -- none untagged is zero, not unknown (NULL only when nothing is in the period)
               CASE WHEN count(*) > 0 THEN coalesce(sum(cost) FILTER (WHERE tagged), 0) END,
               CASE WHEN count(*) > 0 THEN coalesce(sum(cost) FILTER (WHERE NOT tagged), 0) END,
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
    source, keyed = lines_sql(con), f"coalesce(CAST({col} AS VARCHAR), '{UNSET}') = $key"
    if by in LINE_NATIVE:  # a column of the line itself: no line joined to its class
        source = f"SELECT *, {_PROVIDER} AS provider FROM cost_lines"
    elif key != UNSET and CLASSIFIED in available(con):
        # A class: the ids of its lines (from the class combinations that give it) are hashed,
        # not the window's lines with their resource ids: a third of the memory and time.
        # (materialised, so DuckDB hashes the ids rather than turn the join around)
        source = f"""WITH ids AS MATERIALIZED (
                         SELECT x_LineId FROM line_classes WHERE x_ClassKey IN (
                             SELECT x_ClassKey FROM class_keys WHERE CAST({col} AS VARCHAR) = $key))
                     SELECT * FROM cost_lines SEMI JOIN ids USING (x_LineId)"""
        keyed = "true"
    return frame(
        con,
        f"""
        WITH l AS (SELECT coalesce(ResourceId, '(no resource id)') AS resource,
                          CAST(ChargePeriodStart AS DATE) AS d, {CostBasis(basis).column} AS c
                   FROM ({source})
                   WHERE BillingCurrency = $cur
                     AND {keyed}
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
