"""GPU-hours and idle episodes at an idle threshold other than the configured one.

The Idle page's slider asks "what if idle meant mean activity below 20%?". The answer is
the refresh's own definitions (models.idle `state_sql`, `idle_cost_sql`; the episode query
of ingest.derive.gpu_hours) run over stored `gpu_hours` rows in DuckDB, with only the threshold
changed and bound as a parameter, so the page and `finops` never disagree on what idle is.
"""

from __future__ import annotations

import duckdb
import polars as pl

from ingest.derive.gpu_hours import OVERLAP, idle_episodes_sql
from models.idle import IDLE_EPISODES, idle_cost_sql, state_sql
from models.settings import IdleSettings

THRESHOLD = "threshold"  # the bound parameter's name


def hours_at_sql(hours: str, settings: IdleSettings) -> str:
    """`hours` (gpu_hours rows, SQL) with state and idle_cost at the idle threshold bound as
    `$threshold`; the other settings as configured."""
    state = state_sql(settings, idle_below="$" + THRESHOLD)
    stated = f"SELECT * REPLACE ({state} AS state) FROM ({hours})"
    return f"SELECT * REPLACE ({idle_cost_sql()} AS idle_cost) FROM ({stated})"


def episodes_at(
    con: duckdb.DuckDBPyConnection,
    hours: str,
    settings: IdleSettings,
    threshold: float,
    params: dict[str, object] | None = None,
) -> pl.DataFrame:
    """IDLE_EPISODES rows of the gpu_hours rows `hours` (SQL over `con`, with bound `params`)
    when idle means mean activity below `threshold`: what a refresh with that `idle_below`
    would store for them."""
    bound = {**(params or {}), THRESHOLD: threshold}
    at = hours_at_sql(hours, settings)
    cols = ", ".join(f'"{n}"' for n in IDLE_EPISODES.names)
    try:
        return con.sql(f"SELECT {cols} FROM ({idle_episodes_sql(at, settings)})", params=bound).pl()
    except duckdb.InvalidInputException as exc:
        if OVERLAP not in str(exc):
            raise
    runs = idle_episodes_sql(at, settings, islands=False)  # idle hours of one GPU overlap
    return con.sql(f"SELECT {cols} FROM ({runs})", params=bound).pl()
