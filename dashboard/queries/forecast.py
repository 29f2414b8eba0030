"""Forecasts and anomalies for the pages: the models run on daily rollups, never on line items."""

from __future__ import annotations

import duckdb
import polars as pl

from dashboard.queries import spend as queries
from dashboard.queries.filters import Filters
from models.anomaly import AnomalySettings, detect_anomalies
from models.errors import InputError
from models.forecast import forecast_spend

# Anomaly dimension (models/anomaly.py) -> explorer dimension label (queries.DIMENSIONS).
ANOMALY_DIMENSIONS = {
    "service": "service",
    "team": "team",
    "ai_class": "AI class",
    "provider": "provider",
}


def _costs(con: duckdb.DuckDBPyConnection, f: Filters, currency: str) -> pl.LazyFrame:
    daily = queries.daily(con, f, currency)
    return daily.lazy().with_columns(pl.lit(None, dtype=pl.String).alias("ResourceId"))


def forecast(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str, by: str, horizon: int = 6
) -> pl.DataFrame:
    """models.forecast.forecast_spend over the filtered daily spend (empty when no data)."""
    try:
        return forecast_spend(_costs(con, f, currency), by=by, horizon=horizon)
    except InputError:
        return pl.DataFrame()


TOTAL = "All spend"


def total(
    con: duckdb.DuckDBPyConnection, f: Filters, currency: str, horizon: int = 6
) -> pl.DataFrame:
    """The filtered spend's own forecast, as one series (not the sum of the providers'
    forecasts, whose intervals do not add): forecast_spend's columns, key `TOTAL`."""
    daily = _costs(con, f, currency).with_columns(pl.lit(TOTAL).alias("ProviderName"))
    try:
        return forecast_spend(daily, by="provider", horizon=horizon)
    except InputError:
        return pl.DataFrame()


def anomalies(
    con: duckdb.DuckDBPyConnection,
    f: Filters,
    currency: str,
    settings: AnomalySettings | None = None,
) -> pl.DataFrame:
    """Spend anomalies (drivers are read separately, per anomaly, from the lines)."""
    costs = _costs(con, f, currency)
    if costs.select(pl.len()).collect().item() == 0:
        return pl.DataFrame(
            schema={
                "dimension": pl.String,
                "key": pl.String,
                "start": pl.Date,
                "end": pl.Date,
                "excess": pl.Decimal(38, 2),
            }
        )
    # the daily rollup has no resource ids, so the model's drivers would all be empty: not
    # computed (a pass over the series per anomaly); the page reads them from the lines
    return detect_anomalies(costs, settings, with_drivers=False).drop("drivers")
