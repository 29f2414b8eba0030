"""Own vs rent for the page: the same model and inputs as `finops own-vs-rent`.

The price book's edits arrive as (key, value) pairs, so the answer is cached per snapshot and
per set of edits; every edited value is recorded as a user override with today's date.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb

from dashboard.commands.own_vs_rent import load_gpu_hours
from models.price_book import PriceBook
from models.recommendation import OwnVsRentSettings, Recommendation, recommend

EDITED = "edited in the dashboard"


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
) -> Recommendation:
    frame, end = load_gpu_hours(con, gpu, months)
    return recommend(
        frame,
        book(settings, edits),
        gpu=gpu,
        months=months,
        burst_option=settings.burst_option,
        end=end,
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
