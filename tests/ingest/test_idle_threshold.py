"""Idle hours and episodes at another threshold (the Idle page's slider) are what the engine
would store with that threshold configured, and what the polars oracle gives."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import duckdb
import numpy as np
import polars as pl
import pytest

from ingest.derive.gpu_hours import write_gpu_hours, write_idle_episodes
from ingest.derive.idle_threshold import THRESHOLD, episodes_at, hours_at_sql
from ingest.derive.scratch import connect
from models.idle import GPU_HOURS, IDLE_EPISODES, IDLE_STATES, idle_sql, idle_step_sql
from models.settings import IdleSettings
from tests.fixtures.gpu_hours import assert_same, estate, reference


def stage(tmp_path: Path, lines, util, owned, settings: IdleSettings):
    """gpu_hours and idle_episodes as the refresh stores them with `settings`."""
    tmp_path.mkdir(exist_ok=True)
    hours_path, episodes_path = tmp_path / "hours", tmp_path / "episodes.parquet"
    with connect(tmp_path) as con:
        con.register("lines_in", lines.to_arrow())
        con.register("util_in", util.to_arrow())
        write_gpu_hours(
            con, "SELECT * FROM lines_in", "SELECT * FROM util_in", owned, settings, hours_path
        )
        staged = f"SELECT * FROM read_parquet('{hours_path}/*/*.parquet')"
        write_idle_episodes(con, staged, settings, episodes_path)
    hours = pl.read_parquet(f"{hours_path}/*/*.parquet", hive_partitioning=False)
    return hours.select(GPU_HOURS.names), pl.read_parquet(episodes_path)


@pytest.mark.parametrize(
    ("threshold", "moved"), [(0.01, True), (0.02, True), (0.2, False), (0.21, True), (0.5, True)]
)
def test_the_slider_gives_what_a_refresh_at_that_threshold_stores(
    tmp_path: Path, threshold: float, moved: bool
) -> None:
    """The estate of edge cases (duplicate telemetry, overlapping periods, on-prem rates,
    no samples): hours stored at the configured 5%, read again at another threshold. Its
    activities are 0, 0.1%, 1-3%, 4%, 20%, 50% and more: at 20% the 20% hours stay busy."""
    lines, util, owned = estate()
    configured = IdleSettings(episode_min_hours=2)
    at = dataclasses.replace(configured, idle_below=threshold)
    stored, _ = stage(tmp_path / "configured", lines, util, owned, configured)
    want_hours, want_episodes = stage(tmp_path / "at", lines, util, owned, at)
    oracle_hours, oracle_episodes = reference(lines, util, owned, at)

    con = duckdb.connect()
    con.register("gpu_hours", stored.to_arrow())
    got_hours = con.sql(
        f"SELECT {', '.join(GPU_HOURS.names)} FROM ({hours_at_sql('FROM gpu_hours', configured)})",
        params={THRESHOLD: threshold},
    ).pl()
    got_episodes = episodes_at(con, "FROM gpu_hours", configured, threshold)
    assert_same(got_hours.cast(want_hours.schema), want_hours)
    assert_same(got_hours.cast(oracle_hours.schema), oracle_hours)
    assert_same(got_episodes.cast(want_episodes.schema), want_episodes)
    assert_same(got_episodes.cast(oracle_episodes.schema), oracle_episodes)
    idle = pl.col("state").is_in(IDLE_STATES)
    assert (stored.filter(idle).height != got_hours.filter(idle).height) == moved
    assert len(got_episodes) > 0


def test_one_resource_with_bound_parameters(tmp_path: Path) -> None:
    """As the page asks: one resource's hours, the resource a bound value too."""
    lines, util, owned = estate()
    configured = IdleSettings()
    stored, _ = stage(tmp_path, lines, util, owned, configured)
    con = duckdb.connect()
    con.register("gpu_hours", stored.to_arrow())
    got = episodes_at(
        con, "SELECT * FROM gpu_hours WHERE resource_id = $r", configured, 0.3, {"r": "i-0p5"}
    )
    _, oracle = reference(lines, util, owned, dataclasses.replace(configured, idle_below=0.3))
    want = oracle.filter(pl.col("resource_id") == "i-0p5")
    assert got.columns == IDLE_EPISODES.names
    assert_same(got.cast(want.schema), want)
    # GPUs 0-6 of i-0p5 each go through every activity of the estate in 6 hours
    assert sorted(set(got["gpu_index"])) == list(range(7))


def _edges() -> list[float]:
    """Activities at and one floating-point step either side of every 1% threshold."""
    out = [0.0, 0.29, 0.57, 1.0, 0.999999]
    for k in range(1, 52):
        t = k / 100
        out += [t, float(np.nextafter(t, 0)), float(np.nextafter(t, 1)), t - 1e-12, t + 1e-12]
    return out


def test_the_rollup_step_is_the_idle_rule_at_every_slider_threshold() -> None:
    """An hour with step s is idle at k% exactly when s <= k, as `idle_sql` says at k / 100
    (activity 0.29 is 28.999999999999996 x 100; one ulp under 7% is idle at 7%)."""
    con = duckdb.connect()
    con.register("a", pl.DataFrame({"avg_active": _edges()}).to_arrow())
    thresholds = ", ".join(f"CAST({k} AS DOUBLE) / 100" for k in range(1, 51))
    rows = con.sql(
        f"SELECT avg_active, {idle_step_sql()} AS step, "
        f"list_transform([{thresholds}], lambda t: {idle_sql('t')}) AS idle FROM a"
    ).fetchall()
    wrong = [
        (a, s, k)
        for a, s, idle in rows
        for k, at_k in enumerate(idle, start=1)
        if (s <= k) != at_k or at_k != (a < k / 100)
    ]
    assert wrong == []
    steps = dict((a, s) for a, s, _ in rows)
    assert steps[0.29] == 30 and steps[float(np.nextafter(0.07, 0))] == 7 and steps[0.07] == 8
    assert steps[0.0] == 1
