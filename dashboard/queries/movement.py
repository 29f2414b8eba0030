"""Reads for Data movement, Tools & SaaS and Workloads, over the per-snapshot rollups."""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.queries.filters import Filters
from dashboard.queries.spend import _FILTER, AI_SPEND, _p, amount, frame
from models.rules import UNKNOWN_WORKLOAD

# ---- data movement and tools -----------------------------------------------------------------

EGRESS_BY = {
    "kind": "kind",
    "provider": "provider",
    "region pair": "region_pair",
    "resource": "resource",
}


def egress(
    con: duckdb.DuckDBPyConnection, f: Filters, by: str, currency: str, n: int = 50
) -> pl.DataFrame:
    """Egress by `by` (an EGRESS_BY label): cost, gigabytes moved and the cost per GB of the
    lines billed by volume (a NAT gateway's hours have a cost but no GB)."""
    col = EGRESS_BY[by]
    return frame(
        con,
        f"""SELECT {col} AS key, sum({amount(f)}) AS cost, sum(gb) AS gb,
                   round(sum(gb_{amount(f)}) / nullif(sum(gb), 0), 6) AS cost_per_gb
            FROM egress_daily WHERE {_FILTER} AND currency = $cur
            GROUP BY 1 ORDER BY cost DESC, key LIMIT $n""",
        _p(f, n=n, cur=currency),
    )


def egress_monthly(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.DataFrame:
    """Per month: egress by kind, with the month's AI spend for the share."""
    return frame(
        con,
        f"""WITH e AS (SELECT date_trunc('month', day) AS month, kind AS key,
                              sum({amount(f)}) AS cost
                       FROM egress_daily WHERE {_FILTER} AND currency = $cur GROUP BY ALL),
                 a AS (SELECT date_trunc('month', day) AS month, sum({amount(f)}) AS ai
                       FROM spend_daily WHERE {_FILTER} AND currency = $cur
                         AND {AI_SPEND} GROUP BY 1)
            SELECT e.month, e.key, e.cost, a.ai,
                   sum(e.cost) OVER (PARTITION BY e.month) / a.ai AS month_share
            FROM e LEFT JOIN a USING (month) ORDER BY month, cost DESC""",
        _p(f, cur=currency),
    )


def tools(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.DataFrame:
    """Per tool family and tool billed in `currency`: cost, teams, seats bought and in use
    (latest month's seats)."""
    return frame(
        con,
        f"""WITH t AS (SELECT *, month AS day FROM tools_monthly WHERE currency = $cur),
                 s AS (SELECT * FROM t WHERE {_FILTER}),
                 last AS (SELECT family, tool, sum(seats) AS seats, sum(active_seats) AS active
                          FROM s WHERE month = (SELECT max(month) FROM s) GROUP BY ALL)
            SELECT family, tool, sum({amount(f)}) AS cost, count(DISTINCT team) AS teams,
                   any_value(last.seats) AS seats, any_value(last.active) AS active_seats
            FROM s LEFT JOIN last USING (family, tool)
            GROUP BY family, tool ORDER BY family, cost DESC""",
        _p(f, cur=currency),
    )


def tool_matrix(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.DataFrame:
    return frame(
        con,
        f"""SELECT team, tool, sum({amount(f)}) AS cost
            FROM (SELECT *, month AS day FROM tools_monthly)
            WHERE {_FILTER} AND currency = $cur GROUP BY ALL ORDER BY team, tool""",
        _p(f, cur=currency),
    )


def workloads(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.DataFrame:
    """AI spend (the Overview's: `AI_SPEND`) by month, team and workload."""
    return frame(
        con,
        f"""SELECT date_trunc('month', day) AS month, team, workload AS key,
                   sum({amount(f)}) AS cost
            FROM spend_daily WHERE {_FILTER} AND currency = $cur AND {AI_SPEND}
            GROUP BY ALL ORDER BY month, team, key""",
        _p(f, cur=currency),
    )


def unclassified(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str, n: int = 5
) -> pl.DataFrame:
    """The services with the most AI spend no workload rule decided, largest first."""
    return frame(
        con,
        f"""SELECT service, provider, sum({amount(f)}) AS cost
            FROM spend_daily WHERE {_FILTER} AND currency = $cur AND {AI_SPEND}
              AND workload = '{UNKNOWN_WORKLOAD}'
            GROUP BY ALL ORDER BY cost DESC, service LIMIT $n""",
        _p(f, cur=currency, n=n),
    )


def consolidation(tools_: pl.DataFrame) -> pl.DataFrame:
    """Per family with two or more tools: moving every active seat to the family's cheapest
    tool per active seat, what would it cost, and what would it save."""
    priced = tools_.filter(pl.col("active_seats") > 0).with_columns(
        (pl.col("cost").cast(pl.Float64) / pl.col("active_seats")).alias("per_seat")
    )
    return (
        priced.group_by("family")
        .agg(
            pl.len().alias("tools"),
            pl.col("cost").sum().alias("cost"),
            pl.col("active_seats").sum().alias("active_seats"),
            pl.col("tool").sort_by("per_seat").first().alias("keep"),
            pl.col("per_seat").min().alias("best_per_seat"),
        )
        .filter(pl.col("tools") >= 2)
        .with_columns(
            (pl.col("cost").cast(pl.Float64) - pl.col("best_per_seat") * pl.col("active_seats"))
            .clip(lower_bound=0)
            .round(2)
            .alias("saving")
        )
        .sort("saving", descending=True)
    )
