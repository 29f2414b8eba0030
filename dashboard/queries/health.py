"""Reads for Data health and Reports: the record of loads, failures and freshness."""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.queries.spend import frame


def loads(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return frame(
        con,
        """SELECT dataset, source, billing_account, billing_period, currency, rows,
                  source_total, warehouse_total, warehouse_total - source_total AS difference,
                  status, finished_at, table_version, load_id
           FROM loads ORDER BY finished_at DESC, source, billing_period""",
    )


def failures(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return frame(
        con,
        'SELECT "at", dataset, source, target, error, message FROM load_errors ORDER BY "at" DESC',
    )


def freshness(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Per source: last load, newest billing period, newest charge in the data."""
    return frame(
        con,
        """WITH l AS (SELECT source, max(finished_at) AS last_load,
                             max(billing_period) AS newest_period, count(*) AS loads
                      FROM loads GROUP BY 1),
           c AS (SELECT source, max(data_until) AS data_until FROM billed_periods GROUP BY 1),
           g AS (SELECT source, max(data_until) AS data_until FROM telemetry_monthly GROUP BY 1)
           SELECT l.*, coalesce(c.data_until, g.data_until) AS data_until
           FROM l LEFT JOIN c USING (source) LEFT JOIN g USING (source)
           ORDER BY source""",
    )


def telemetry(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """GPU telemetry per source and month: hours, GPUs, hours with no samples."""
    return frame(
        con,
        """SELECT month, source, gpu_hours, gpus, unsampled_hours
           FROM telemetry_monthly ORDER BY month, source""",
    )


def reconciliation(con: duckdb.DuckDBPyConnection, month: str) -> pl.DataFrame:
    """The month's cost loads: the source's total against what the warehouse holds now."""
    return frame(
        con,
        """WITH latest AS (
               SELECT * FROM loads WHERE dataset = 'cost_lines' AND billing_period = $m
               QUALIFY row_number() OVER (PARTITION BY source, billing_account
                                          ORDER BY finished_at DESC) = 1),
           now AS (SELECT source, billing_account, sum(billed) AS in_warehouse
                   FROM billed_periods WHERE period = $m GROUP BY ALL)
           SELECT latest.source, latest.billing_account, latest.currency, latest.rows,
                  latest.source_total, now.in_warehouse,
                  now.in_warehouse - latest.source_total AS difference, latest.finished_at
           FROM latest LEFT JOIN now USING (source, billing_account)
           ORDER BY source, billing_account""",
        {"m": month},
    )


def months(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute("SELECT DISTINCT period FROM billed_periods ORDER BY 1 DESC").fetchall()
    return [r[0] for r in rows]
