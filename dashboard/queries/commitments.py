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

from models.commitments import COLUMNS, summarise

_MONEY = ("BilledCost", "EffectiveCost", "ListCost")


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


def summary(
    con: duckdb.DuckDBPyConnection,
    start: date | None = None,
    end: date | None = None,
    providers: tuple[str, ...] = (),
    currency: str | None = None,
) -> pl.DataFrame:
    """models.commitments.SUMMARY_SCHEMA rows for the billing periods starting in
    [start, end) (None: unbounded), of `providers` (empty: all), in `currency` (None: all)."""
    relation, classified = _relation(con)
    dims = [*(c for c in COLUMNS if c not in _MONEY), "x_InstanceType"]
    if classified:
        dims.append("x_AiClass")
    cols = ", ".join(dims)
    sums = ", ".join(f"sum({m}) AS {m}" for m in _MONEY)
    sql = f"""
        SELECT {cols}, {sums} FROM {relation}
        WHERE ($start IS NULL OR BillingPeriodStart >= CAST($start AS TIMESTAMPTZ))
          AND ($end IS NULL OR BillingPeriodStart < CAST($end AS TIMESTAMPTZ))
          AND (len($providers) = 0 OR list_contains($providers, ProviderName))
          AND ($currency IS NULL OR BillingCurrency = $currency)
          AND (CommitmentDiscountId IS NOT NULL
               OR (ChargeCategory = 'Usage' AND ServiceCategory = 'Compute'))
        GROUP BY ALL
    """
    params = {
        "start": start,
        "end": end,
        "providers": list(providers),
        "currency": currency,
    }
    return summarise(con.sql(sql, params=params).pl().lazy())
