"""AppTest: the Idle page at a threshold other than the configured 5% shows the idle hours,
idle cost and episodes that the idle engine gives at that threshold (and the polars oracle).

The small warehouse (conftest): i-gpu1 has GPUs 0-2 at 0% for 4 hours; i-gpu2 has all 8
GPUs at 3% for 2 hours, then at 20% for 2; USD 10 a GPU-hour.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from ingest.derive.idle_threshold import THRESHOLD, episodes_at, hours_at_sql
from ingest.warehouse import views
from ingest.warehouse.connection import connect
from models.idle import IDLE_IN_SQL, IDLE_STATES
from models.settings import Settings
from tests.fixtures.app_pages import app, episodes_shown, no_errors, page, ranking_shown
from tests.oracles.idle import idle_episodes, state_expr


def engine(root: Path, threshold: float) -> tuple[dict, pl.DataFrame]:
    """Per resource (idle GPU-hours, idle cost) and the episodes, from the engine's query."""
    views.register_all(Settings())
    con = connect(root)
    idle = Settings().idle
    rows = con.sql(
        f"""SELECT resource_id, count(*) FILTER (WHERE state IN {IDLE_IN_SQL}), sum(idle_cost)
        FROM ({hours_at_sql("FROM gpu_hours", idle)}) GROUP BY 1 HAVING sum(idle_cost) > 0""",
        params={THRESHOLD: threshold},
    ).fetchall()
    return {r: (n, c) for r, n, c in rows}, episodes_at(con, "FROM gpu_hours", idle, threshold)


def oracle(root: Path, threshold: float) -> tuple[dict, pl.DataFrame]:
    """The same from the polars oracle over the stored gpu_hours rows."""
    views.register_all(Settings())
    hours = connect(root).sql("SELECT * FROM gpu_hours").pl()
    at = dataclasses.replace(Settings().idle, idle_below=threshold)
    idle = pl.col("state").is_in(IDLE_STATES)
    restated = hours.with_columns(state_expr(at).alias("state")).with_columns(
        pl.when(idle).then(pl.col("cost")).otherwise(pl.col("cost") * 0).alias("idle_cost")
    )
    by = restated.group_by("resource_id").agg(
        idle.sum().alias("n"), pl.col("idle_cost").sum().alias("c")
    )
    totals = {r: (n, c) for r, n, c in by.filter(pl.col("c") > 0).iter_rows()}
    return totals, idle_episodes(restated.lazy(), at).collect()


@pytest.mark.parametrize(
    ("threshold", "want"),
    [
        (0.01, {"i-gpu1": (12, Decimal(120))}),  # 0% is idle, 3% is not
        (0.20, {"i-gpu1": (12, Decimal(120)), "i-gpu2": (16, Decimal(160))}),  # 20% is not
        (0.21, {"i-gpu1": (12, Decimal(120)), "i-gpu2": (32, Decimal(320))}),
    ],
)
def test_idle_page_at_another_threshold_is_the_engine(
    small_warehouse: Path, threshold: float, want: dict
) -> None:
    at = page(app(), "idle")
    at.slider(key="idle_thr").set_value(threshold).run()
    no_errors(at)
    hours, episodes = engine(small_warehouse, threshold)
    oracle_hours, oracle_episodes = oracle(small_warehouse, threshold)
    assert ranking_shown(at) == hours == oracle_hours == want

    # the episodes of the resource shown (the costliest), GPUs idle together in one row
    top = max(want, key=lambda r: want[r][1])
    mine = episodes.filter(pl.col("resource_id") == top)
    theirs = oracle_episodes.filter(pl.col("resource_id") == top)
    grouped = (
        mine.group_by("start", "hours", "state")
        .agg(pl.col("gpu_index").sort(), pl.col("cost").sum())
        .sort("cost", descending=True)
    )
    expected = [
        (", ".join(map(str, r["gpu_index"])), r["start"].isoformat(), r["hours"],
         len(r["gpu_index"]) * r["hours"], r["cost"], r["state"])
        for r in grouped.iter_rows(named=True)
    ]  # fmt: skip
    assert episodes_shown(at) == expected
    assert sum(e[3] for e in expected) == want[top][0]  # every idle hour is in an episode
    key = ["gpu_index", "start"]
    assert (
        mine.sort(key).select(key, "hours", "cost", "state").rows()
        == theirs.sort(key).select(key, "hours", "cost", "state").rows()
    )
