"""Reads for workload placement: each workload's measured GPU-hours and cost from gpu_hours,
the egress rates from the data-flow map; the model (models.placement) does the rest."""

from __future__ import annotations

from datetime import timedelta

import duckdb
import polars as pl

from dashboard.labels import words
from dashboard.queries.filters import Filters
from dashboard.queries.flows import flows
from models.flows import FlowSettings, egress_rates
from models.idle import USEFUL_IN_SQL
from models.placement import (
    OWNED,
    Alternative,
    Workload,
    alternatives,
    best_per_workload,
    rank,
)
from models.price_book import PriceBook
from models.recommendation import OwnVsRentSettings

OWNED_PLACE = "owned GPUs"

_SQL = f"""
SELECT team, gpu_model, provider, deployment, count(*) AS paid,
       count(*) FILTER (WHERE state IN {USEFUL_IN_SQL}) AS useful, sum(cost) AS cost
FROM gpu_hours
WHERE currency = 'USD' AND hour >= $start AND hour < $end
GROUP BY ALL ORDER BY ALL
"""


def workloads(con: duckdb.DuckDBPyConnection, months: int = 12) -> list[Workload]:
    """Each team's GPUs of one model where they run, over the trailing `months` of gpu_hours
    (USD; the window ends at the last hour measured, and starts no earlier than the first)."""
    first, last = con.sql("SELECT min(hour), max(hour) FROM gpu_hours").fetchall()[0]
    if last is None:
        return []
    end = last + timedelta(hours=1)
    # a shorter history is scaled from what it holds, not from an empty rest of the year
    start = max(first, end - timedelta(days=round(365 * months / 12)))
    hours = int((end - start) / timedelta(hours=1))
    rows = con.execute(_SQL.replace("$start", "?").replace("$end", "?"), [start, end]).fetchall()
    return [
        Workload(team, gpu, provider, deployment, paid, useful, cost, hours)
        for team, gpu, provider, deployment, paid, useful, cost in rows
    ]


def placement(
    con: duckdb.DuckDBPyConnection, book: PriceBook, settings: FlowSettings, months: int = 12
) -> list[Alternative]:
    """Every priced alternative of every workload, ranked (models.placement.rank)."""
    rates = egress_rates(flows(con, Filters(), settings.addresses))
    alts = []
    for w in workloads(con, months):
        alts.extend(alternatives(w, book, OWNED_PLACE, rates, settings.datasets))
    return rank(alts)


def placement_table(
    con: duckdb.DuckDBPyConnection, own_vs_rent: OwnVsRentSettings, settings: FlowSettings
) -> pl.DataFrame:
    """The best alternative of each workload, ranked, as the page and the pack show it."""
    ranked = placement(con, own_vs_rent.price_book(), settings, own_vs_rent.months)
    return pl.DataFrame(
        [
            {
                "workload": f"{a.workload.team} · {a.workload.gpu_model} · {a.workload.provider}",
                "gpu_hours": a.workload.paid_gpu_hours,
                "annual_cost_today": a.annual_today,
                "placed_on": a.place if a.pricing == OWNED else f"{a.place} ({words(a.pricing)})",
                "annual_cost_there": a.annual_cost,
                "moving_data_once": a.one_off,
                "first_year_saving": a.first_year_saving,
                "price_as_of": a.as_of,
            }
            for a in best_per_workload(ranked)
        ],
        schema_overrides={
            c: pl.Decimal(38, 2)
            for c in (
                "annual_cost_today",
                "annual_cost_there",
                "moving_data_once",
                "first_year_saving",
            )
        },
    )
