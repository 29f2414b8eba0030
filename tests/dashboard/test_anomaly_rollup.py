"""The dashboard's anomaly detector reads the daily rollup: a monthly fee must be spread over
its month there as models/anomaly.py spreads it, not read as a spike on the 1st."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from dashboard.queries import forecast as queries_forecast
from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from ingest.derive import rollups
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from ingest.warehouse.store import Store
from models.settings import Settings
from tests.fixtures.batches import batch

EC2, WANDB = "Amazon Elastic Compute Cloud", "Weights & Biases"
SPIKE = date(2026, 10, 15)


def month(period: str) -> object:
    """Each day's EC2 at USD 100 (USD 1,100 on SPIKE) and one monthly fee of USD 100 a day."""
    start = datetime.fromisoformat(period + "-01T00:00:00+00:00")
    end = (start + timedelta(days=32)).replace(day=1)
    days = [start + timedelta(days=k) for k in range((end - start).days)]
    amounts = ["1100" if d.date() == SPIKE else "100" for d in days] + [str(100 * len(days))]
    b = batch(period, amounts, sha=period.replace("-", "") * 8)
    lines = b.lines.with_columns(
        pl.Series("ChargePeriodStart", [*days, start]),
        pl.Series("ChargePeriodEnd", [*(d + timedelta(days=1) for d in days), end]),
        pl.Series("ServiceName", [EC2] * len(days) + [WANDB]),
        pl.Series("ChargeFrequency", ["Usage-Based"] * len(days) + ["Recurring"]),
    )
    return dataclasses.replace(b, lines=lines)


def test_a_monthly_fee_is_no_anomaly_and_a_spike_is(warehouse: Path) -> None:
    store = Store(warehouse)
    store.load_cost_lines([month(p) for p in ("2026-08", "2026-09", "2026-10")])
    with store.writer():  # the daily rollup alone, as the lines stand (not classified)
        rollups.refresh(store, None)
    views.register_all(Settings())
    con = connect(warehouse)
    queries.prepare(con)
    found = queries_forecast.anomalies(con, Filters(), "USD")
    assert [
        (r["dimension"], r["key"], r["start"], r["end"], r["excess"])
        for r in found.sort("dimension").iter_rows(named=True)
    ] == [  # the spike in each series it is part of; the fee in none
        ("ai_class", "(not set)", SPIKE, SPIKE, Decimal("1000.00")),
        ("service", EC2, SPIKE, SPIKE, Decimal("1000.00")),
        ("team", "(not set)", SPIKE, SPIKE, Decimal("1000.00")),
    ]
