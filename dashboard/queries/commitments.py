"""Commitments over the warehouse: the lines models/commitments.py needs, summed in DuckDB.

The commitment lines and the on-demand compute beside them are summed per the columns the
model reads (a few hundred rows for a month of millions of lines), then `summarise` gives
purchase, used, unused, utilisation, coverage and savings per commitment and month: the one
definition both the finance pack and the Commitments page show.
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from models.commitments import GROUP_COLUMNS, LINES_SQL, MONEY_COLUMNS, summarise
from models.rollups import COMMITMENT_MONTHS as ROLLUP


def _relation(con: duckdb.DuckDBPyConnection) -> tuple[str, bool]:
    """classified_costs when classification has run (its lines carry x_AiClass), else
    cost_lines."""
    names = {
        r[0]
        for r in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal "
            "UNION ALL SELECT table_name FROM duckdb_tables()"
        ).fetchall()
    }
    if "classified_costs" in names:
        ((found,),) = con.execute(
            "SELECT EXISTS (SELECT 1 FROM classified_costs WHERE x_AiClass IS NOT NULL)"
        ).fetchall()
        if found:
            return "classified_costs", True
    return "cost_lines", False


def _built(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether this snapshot has the `commitment_months` rollup (a warehouse not ingested
    since it was added, or a state `--as-of` before then, has not)."""
    rows = con.execute(
        "SELECT version FROM finops_snapshot() WHERE dataset = $name",
        {"name": ROLLUP.name},
    ).fetchall()
    return bool(rows) and rows[0][0] is not None


def summary(
    con: duckdb.DuckDBPyConnection,
    start: date | None = None,
    end: date | None = None,
    providers: tuple[str, ...] = (),
    currency: str | None = None,
) -> pl.DataFrame:
    """models.commitments.SUMMARY_SCHEMA rows for the billing periods starting in
    [start, end) (None: unbounded), of `providers` (empty: all), in `currency` (None: all).

    Read from the `commitment_months` rollup (built at ingest, a few hundred rows a month),
    else from the lines: every compute usage line joined to its classes."""
    where = f"""
        WHERE ($start IS NULL OR BillingPeriodStart >= CAST($start AS TIMESTAMPTZ))
          AND ($end IS NULL OR BillingPeriodStart < CAST($end AS TIMESTAMPTZ))
          AND (len($providers) = 0 OR list_contains($providers, ProviderName))
          AND ($currency IS NULL OR BillingCurrency = $currency)
          AND {LINES_SQL}
    """
    sums = ", ".join(f"sum({m}) AS {m}" for m in MONEY_COLUMNS)
    if _built(con):
        cols = ", ".join(GROUP_COLUMNS)
        sql = f"SELECT {cols}, {sums} FROM {ROLLUP.name} {where} GROUP BY ALL"
    else:
        relation, classified = _relation(con)
        dims = [c for c in GROUP_COLUMNS if classified or c != "x_AiClass"]
        sql = f"SELECT {', '.join(dims)}, {sums} FROM {relation} {where} GROUP BY ALL"
    params = {
        "start": start,
        "end": end,
        "providers": list(providers),
        "currency": currency,
    }
    return summarise(con.sql(sql, params=params).pl().lazy())
