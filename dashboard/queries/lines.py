"""The explorer's reads behind a breakdown: spend by a tag key's values, and pages of the
line items themselves.

Tags are JSON text, not columns, so the ingest unnests each distinct Tags value's keys into the
`tag_daily` rollup (day, filter dimensions, tag key and value, cost), and keeps the costliest
lines in `top_lines` (ingest/derive/rollups.py). A page of line items is read from those, or
else from the lines above a cost that the daily rollup proves the page reaches, so it never
sorts the whole period.
"""

from __future__ import annotations

import contextlib

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from dashboard.queries.spend import (
    _FILTER,
    _PROVIDER,
    CLASSIFIED,
    DIMENSIONS,
    LINE_COLUMNS,
    LINE_NATIVE,
    UNSET,
    _p,
    amount,
    available,
    frame,
    lines_sql,
    relations,
)
from models import rollups

# Every line filter, for the reads that take them all (the drill-down builds its own).
_LINE_FILTER = """
    ($start IS NULL OR ChargePeriodStart >= CAST($start AS TIMESTAMPTZ))
    AND ($end IS NULL OR ChargePeriodStart < CAST($end AS TIMESTAMPTZ) + INTERVAL 1 DAY)
    AND (len(CAST($providers AS VARCHAR[])) = 0
         OR list_contains(CAST($providers AS VARCHAR[]), provider))
    AND (len(CAST($teams AS VARCHAR[])) = 0
         OR list_contains(CAST($teams AS VARCHAR[]), coalesce(x_Team, '(not set)')))
    AND (len(CAST($envs AS VARCHAR[])) = 0
         OR list_contains(CAST($envs AS VARCHAR[]), coalesce(x_Environment, '(not set)')))
    AND BillingCurrency = $cur
"""


def tag_breakdown(
    con: duckdb.DuckDBPyConnection, f: Filters, tag_key: str, currency: str
) -> pl.DataFrame:
    """Spend by the value of one tag key; lines without the key, or with an empty value, are
    "(not set)" (as untagged spend counts them).

    From `tag_daily` on a prepared snapshot (what the rollup lacks is the untagged rest of
    `spend_daily`); from the line items otherwise.
    """
    if "tag_daily" in relations(con):
        col = amount(f)
        return frame(
            con,
            f"""
            WITH v AS (SELECT coalesce(nullif(tag_value, ''), '{UNSET}') AS key, sum({col}) AS cost,
                              sum(lines) AS lines
                       FROM tag_daily WHERE {_FILTER} AND currency = $cur AND tag_key = $tag
                       GROUP BY 1),
            rest AS (SELECT '{UNSET}' AS key,
                            sum({col}) - coalesce((SELECT sum(cost) FROM v), 0) AS cost,
                            sum(lines) - coalesce((SELECT sum(lines) FROM v), 0) AS lines
                     FROM spend_daily WHERE {_FILTER} AND currency = $cur)
            SELECT key, sum(cost) AS cost, sum(lines)::BIGINT AS lines
            FROM (SELECT * FROM v UNION ALL BY NAME SELECT * FROM rest WHERE lines > 0)
            GROUP BY 1 ORDER BY cost DESC, key""",
            _p(f, cur=currency, tag=tag_key.replace('"', "")),
        )
    return frame(
        con,
        f"""SELECT coalesce(nullif(json_extract_string(
                                Tags, '$."' || replace($tag, '"', '') || '"'), ''),
                            '{UNSET}') AS key,
                   sum({f.basis.column}) AS cost, count(*) AS lines
            FROM ({_tag_source(con, f)}) WHERE {_LINE_FILTER} GROUP BY 1 ORDER BY cost DESC, key""",
        _p(f, cur=currency, tag=tag_key),
    )


def _tag_source(con: duckdb.DuckDBPyConnection, f: Filters) -> str:
    """Tags live on cost_lines: without a team or environment filter, no classes are joined."""
    if f.teams or f.environments:
        return lines_sql(con)
    return (
        f"SELECT Tags, EffectiveCost, BilledCost, ChargePeriodStart, BillingCurrency, "
        f"{_PROVIDER} AS provider, CAST(NULL AS VARCHAR) AS x_Team, "
        "CAST(NULL AS VARCHAR) AS x_Environment FROM cost_lines"
    )


DRILL_COLUMNS = (
    "ChargePeriodStart",
    "provider",
    "ServiceName",
    "x_Team",
    "x_AiClass",
    "RegionId",
    "ResourceId",
    "x_UsageType",
    "ChargeDescription",
    "ConsumedQuantity",
    "ConsumedUnit",
    "BilledCost",
    "EffectiveCost",
    "x_LineId",
)


def drill_count(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str, by: str | None, key: str | None
) -> int:
    """Lines behind a breakdown row, counted from the daily rollup (same filters)."""
    where = f" AND {DIMENSIONS[by]} = $key" if by else ""
    sql = f"SELECT sum(lines) FROM spend_daily WHERE {_FILTER} AND currency = $cur{where}"
    params = _p(f, cur=currency) | ({"key": key} if by else {})
    return int(con.execute(sql, params).fetchall()[0][0] or 0)


def drill_page(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    currency: str,
    by: str | None,
    key: str | None,
    page: int,
    size: int = 100,
) -> pl.DataFrame:
    """One page of the line items behind a breakdown row, largest cost first.

    The daily rollup's largest line per group gives a cost every line of the page reaches
    (`_page_floor`); when `top_lines` (the costliest lines, kept by the ingest) holds
    every line above it, the page is read from there. Otherwise only the filters in use and
    that cost reach the scan of the line items. When neither the filters nor the drilled
    dimension need a classification column, the page is chosen from cost_lines alone and only
    its rows are joined to their classes.
    """
    offset = max(page, 0) * size
    where, params = _line_where(f, currency, by, key)
    floor = _page_floor(con, f, currency, by, key, offset + size)
    if floor is not None:
        where += " AND EffectiveCost >= $floor"
        params["floor"] = floor
    params |= {"size": size, "offset": offset}
    if _kept_lines_suffice(con, floor):
        cols = ", ".join(DRILL_COLUMNS)
        sql = (
            f"SELECT {cols} FROM {KEPT} WHERE {where} "
            "ORDER BY EffectiveCost DESC, x_LineId LIMIT $size OFFSET $offset"
        )
        return frame(con, sql, params)
    native_ok = not (f.teams or f.environments) and by in (None, *LINE_NATIVE)
    if native_ok and CLASSIFIED in available(con) and "classifications" in relations(con):
        native = ", ".join(c for c in DRILL_COLUMNS if c not in ("provider", "x_Team", "x_AiClass"))
        page_sql = (
            f"SELECT {native}, {_PROVIDER} AS provider, BillingCurrency, SubAccountName, "
            "CAST(NULL AS VARCHAR) AS x_Team, CAST(NULL AS VARCHAR) AS x_Environment "
            "FROM cost_lines"
        )
        picked = ", ".join(
            f"k.{c}" if c in ("x_Team", "x_AiClass") else f"p.{c}" for c in DRILL_COLUMNS
        )
        sql = (
            f"WITH p AS (SELECT * FROM ({page_sql}) WHERE {where} "
            "ORDER BY EffectiveCost DESC, x_LineId LIMIT $size OFFSET $offset) "
            f"SELECT {picked} FROM p LEFT JOIN classifications k USING (x_LineId) "
            "ORDER BY p.EffectiveCost DESC, p.x_LineId"
        )
    else:
        cols = ", ".join(DRILL_COLUMNS)
        sql = (
            f"SELECT {cols} FROM ({lines_sql(con)}) WHERE {where} "
            "ORDER BY EffectiveCost DESC, x_LineId LIMIT $size OFFSET $offset"
        )
    return frame(con, sql, params)


KEPT = "top_lines_kept"  # this snapshot's `top_lines`, copied at its first drill-down


def _kept_lines_suffice(con: duckdb.DuckDBPyConnection, floor: object | None) -> bool:
    """Whether `top_lines` holds every line of the page: all lines, or every line costing
    more than its cheapest (the page's lines all reach `floor`). The first drill-down of a
    snapshot copies them into memory (`KEPT`): the view ranks every partition's costliest
    lines, which a page should not pay for each time."""
    have = relations(con)
    if "top_lines" not in have:
        return False
    if KEPT not in have:
        # another session's request may make it first
        with contextlib.suppress(duckdb.TransactionException):
            con.execute(f"CREATE TABLE IF NOT EXISTS {KEPT} AS SELECT * FROM top_lines")
    cutoff, kept = con.execute(f"SELECT min(EffectiveCost), count(*) FROM {KEPT}").fetchall()[0]
    if not kept:  # not built (or no lines): the lines themselves answer
        return False
    return kept < rollups.TOP_LINES or (floor is not None and cutoff is not None and floor > cutoff)


def _line_where(
    f: Filters, currency: str, by: str | None, key: str | None
) -> tuple[str, dict[str, object]]:
    """`_LINE_FILTER` and the drilled key with only the conditions in use (an unused filter
    would still make DuckDB read its columns for every line)."""
    where = ["BillingCurrency = $cur"]
    params: dict[str, object] = {"cur": currency}
    if f.start is not None:
        where.append("ChargePeriodStart >= CAST($start AS TIMESTAMPTZ)")
        params["start"] = f.start
    if f.end is not None:
        where.append("ChargePeriodStart < CAST($end AS TIMESTAMPTZ) + INTERVAL 1 DAY")
        params["end"] = f.end
    for name, value, col in (
        ("providers", f.providers, "provider"),
        ("teams", f.teams, f"coalesce(x_Team, '{UNSET}')"),
        ("envs", f.environments, f"coalesce(x_Environment, '{UNSET}')"),
    ):
        if value:
            where.append(f"list_contains(CAST(${name} AS VARCHAR[]), {col})")
            params[name] = list(value)
    if by is not None:
        col = f"CAST({LINE_COLUMNS[by]} AS VARCHAR)"
        # coalesce(col, unset) = key is col = key for any other key, and that reaches the scan
        where.append(f"coalesce({col}, '{UNSET}') = $key" if key == UNSET else f"{col} = $key")
        params["key"] = key
    return " AND ".join(where), params


def _page_floor(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    currency: str,
    by: str | None,
    key: str | None,
    n: int,
) -> object | None:
    """A cost that the `n` most costly lines all reach: the n-th largest of the daily groups'
    largest lines (n groups give n distinct lines at or above it). None when there are fewer
    groups, or when the rollup's groups are not a subset of the drilled lines (account)."""
    if n < 1 or by == "account" or "spend_daily" not in relations(con):
        return None
    where = f" AND {DIMENSIONS[by]} = $key" if by else ""
    params = _p(f, cur=currency, n=n - 1) | ({"key": key} if by else {})
    row = con.execute(
        f"SELECT max_cost FROM spend_daily WHERE {_FILTER} AND currency = $cur{where} "
        "AND max_cost IS NOT NULL ORDER BY max_cost DESC LIMIT 1 OFFSET $n",
        params,
    ).fetchall()
    return row[0][0] if row else None
