"""Own vs rent for the page: the same model and inputs as `finops own-vs-rent`.

The price book's edits arrive as (key, value) pairs, so the answer is cached per snapshot and
per set of edits; every edited value is recorded as a user override with today's date.

A year of GPU-hours is millions of rows, but the model needs only u, u_r and the hourly demand
curve: they are summed from the rollups `gpu_demand` and `gpu_owned_days` (derived at ingest,
models.gpu_rollups) in DuckDB and handed to the same pure model (`recommend_measured`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from models.demand import (
    MeasuredUtilisation,
    Window,
    demand_from_hours,
    gpu_pattern,
    trailing_window,
)
from models.idle import USEFUL_IN_SQL
from models.own_vs_rent import owned_node
from models.price_book import CURRENCY, PriceBook
from models.recommendation import (
    OwnVsRentSettings,
    Recommendation,
    recommend,
    recommend_measured,
)

EDITED = "edited in the dashboard"


# Only the columns the model reads, for one GPU model: gpu_hours has a row per GPU-hour.
_SQL = """
select hour, resource_id, gpu_index, gpu_uuid, gpu_model, deployment, cost, currency, state
from gpu_hours
where hour >= ? and hour < ? and regexp_matches(upper(gpu_model), ?)
"""


def load_gpu_hours(con, gpu: str, months: int):
    """The gpu_hours rows of `gpu` in the trailing window (a LazyFrame) and the window end."""
    from datetime import timedelta

    import polars as pl

    from models.demand import gpu_pattern, trailing_window

    empty = pl.LazyFrame(schema={"hour": pl.Datetime("us", "UTC")})
    last = con.sql("select max(hour) from gpu_hours").fetchall()[0][0]
    if last is None:
        trailing_window(empty, months)  # raises: gpu_hours has no rows
    window = trailing_window(empty, months, last + timedelta(hours=1))
    pattern = gpu_pattern(gpu)
    frame = con.sql(_SQL, params=[window.start, window.end, pattern]).pl()
    hour = frame.schema["hour"]
    # The model works in UTC whatever the session time zone or column type.
    fix = (
        pl.col("hour").dt.replace_time_zone("UTC")
        if getattr(hour, "time_zone", None) is None
        else pl.col("hour").dt.convert_time_zone("UTC")
    )
    return frame.lazy().with_columns(fix.dt.cast_time_unit("us")), window.end


def book(settings: OwnVsRentSettings, edits: tuple[tuple[str, float], ...]) -> PriceBook:
    """The configured price book with the page's edits applied (ConfigError when invalid)."""
    today = datetime.now(UTC).date()
    overrides = {k: {"value": v, "source": EDITED, "as_of": today} for k, v in edits}
    return settings.price_book().with_overrides(overrides, origin="the dashboard's price book")


def recommendation(
    con: duckdb.DuckDBPyConnection,
    settings: OwnVsRentSettings,
    gpu: str,
    months: int,
    edits: tuple[tuple[str, float], ...],
    days: tuple[date, date] | None = None,
) -> Recommendation:
    """The recommendation over the trailing `months` of GPU-hours, or over `days` (the first
    and last day of the dashboard's date filter) when given."""
    prices = book(settings, edits)
    if "gpu_demand" not in _tables(con):  # not prepared: the model reads the GPU-hours
        frame, end = load_gpu_hours(con, gpu, months)
        return recommend(
            frame, prices, gpu=gpu, months=months, burst_option=settings.burst_option, end=end
        )
    owned_node(prices, gpu)  # an unknown GPU is the first error, as in `recommend`
    window = _window(con, months) if days is None else days_window(*days)
    params = {"start": window.start, "end": window.end, "gpu": gpu_pattern(gpu)}
    return recommend_measured(
        measured(con, window, gpu, params),
        demand_from_hours(con.sql(_DEMAND, params=params).pl(), window, gpu),
        prices,
        gpu=gpu,
        burst_option=settings.burst_option,
    )


_IN_WINDOW = "hour >= $start AND hour < $end AND regexp_matches(upper(gpu_model), $gpu)"
_USEFUL = USEFUL_IN_SQL
_DEMAND = f"""
    SELECT hour, coalesce(sum(gpus) FILTER (WHERE state IN {_USEFUL}), 0)::BIGINT AS measured_gpus,
           coalesce(sum(gpus) FILTER (WHERE state = 'unmonitored' AND deployment = 'cloud'),
                    0)::BIGINT AS estimated_gpus
    FROM gpu_demand WHERE {_IN_WINDOW} GROUP BY hour
"""


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    rows = con.execute("SELECT table_name FROM information_schema.tables").fetchall()
    return {r[0] for r in rows}


def days_window(first: date, last: date) -> Window:
    """The hours of the days `first` to `last`, both whole (UTC)."""
    start = datetime.combine(first, time(), tzinfo=UTC)
    return Window(start, datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=1))


def _window(con: duckdb.DuckDBPyConnection, months: int) -> Window:
    """The trailing window exactly as `load_gpu_hours` draws it (after the last GPU-hour)."""
    empty = pl.LazyFrame(schema={"hour": pl.Datetime("us", "UTC")})
    last = con.execute("SELECT max(hour) FROM gpu_demand").fetchall()[0][0]
    if last is None:
        trailing_window(empty, months)  # raises: gpu_hours has no rows
    return trailing_window(empty, months, last + timedelta(hours=1))


def measured(
    con: duckdb.DuckDBPyConnection, window: Window, gpu: str, params: dict[str, object]
) -> MeasuredUtilisation:
    """`models.demand.measured_utilisation`, summed by DuckDB from the prepared rollups."""
    row = con.execute(
        f"""
        SELECT coalesce(sum(gpus) FILTER (WHERE deployment = 'onprem'
                                          AND NOT state = 'unmonitored'), 0),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'onprem' AND state IN {_USEFUL}), 0),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'onprem'
                                          AND state = 'unmonitored'), 0),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'cloud'
                                          AND NOT state = 'unmonitored'), 0),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'cloud' AND state IN {_USEFUL}), 0),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'cloud'
                                          AND state = 'unmonitored'), 0),
               sum(cost) FILTER (WHERE deployment = 'cloud' AND currency = $currency),
               coalesce(sum(gpus) FILTER (WHERE deployment = 'cloud' AND currency = $currency), 0),
               -- a GPU was seen in the window when one of its days overlaps it (the window
               -- is at least a month, so no day holds both of its ends)
               (SELECT count(DISTINCT gpu_id) FROM gpu_owned_days
                WHERE last_hour >= $start AND first_hour < $end
                  AND regexp_matches(upper(gpu_model), $gpu))
        FROM gpu_demand WHERE {_IN_WINDOW}
        """,
        {**params, "currency": CURRENCY},
    ).fetchall()[0]
    return MeasuredUtilisation(
        gpu_model=gpu,
        window=window,
        owned_monitored_hours=int(row[0]),
        owned_useful_hours=int(row[1]),
        owned_unmonitored_hours=int(row[2]),
        cloud_monitored_hours=int(row[3]),
        cloud_useful_hours=int(row[4]),
        cloud_unmonitored_hours=int(row[5]),
        cloud_cost=Decimal(row[6]) if row[6] is not None else Decimal(0),
        cloud_priced_hours=int(row[7]),
        owned_gpus=int(row[8]),
    )


def entries(book_: PriceBook, gpu: str) -> list[dict[str, Any]]:
    """The price book rows that matter for `gpu` (shared inputs, its node, its rent options)."""
    keep = ("finance.", "facility.", "ops.", f"node.{gpu}.", f"rent.{gpu}.")
    return [
        {
            "key": e.key,
            "value": e.value,
            "unit": e.unit,
            "source": e.source,
            "as_of": e.as_of,
            "confidence": e.confidence,
        }
        for e in book_.entries.values()
        if e.key.upper().startswith(tuple(k.upper() for k in keep))
    ]


def hour_range(con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """The first and last day with GPU demand (None when there is none)."""
    table = "gpu_demand" if "gpu_demand" in _tables(con) else "gpu_hours"
    first, last = con.execute(f"SELECT min(hour), max(hour) FROM {table}").fetchall()[0]
    return None if first is None else (first.date(), last.date())
