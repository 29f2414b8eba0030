"""The idle timeline shades exactly the runs of hours in which every monitored GPU idled."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dashboard.app import charts


def _hours(idle: list[int], unmonitored: list[int]) -> pl.DataFrame:
    start = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    n = len(idle)
    return pl.DataFrame(
        {
            "hour": [start + dt.timedelta(hours=h) for h in range(n)],
            "utilisation": [0.02 if i else 0.6 for i in idle],
            "cost": [8.0] * n,
            "idle_cost": [float(i) for i in idle],
            "idle_gpus": idle,
            "unmonitored_gpus": unmonitored,
            "gpus": [8] * n,
        }
    )


def test_idle_runs_are_shaded_and_partly_busy_hours_are_not() -> None:
    # hours 1-2: all 8 idle; hour 4: 6 idle + 2 unmonitored; hour 6: 5 of 8 idle (not shaded)
    hours = _hours([0, 8, 8, 0, 6, 0, 5, 0], [0, 0, 0, 0, 2, 0, 0, 0])
    fig = charts.idle_timeline(hours, "gpu-node-1", 0.05)
    rects = [s for s in fig.layout.shapes if s.type == "rect"]
    h = [t.replace(tzinfo=None) for t in hours["hour"].to_list()]  # UTC, drawn without offset
    assert [(r.x0, r.x1) for r in rects] == [(h[1], h[2]), (h[4], h[4])]
    assert {r.yref for r in rects} == {"y domain"}  # from the axis' bottom to its top
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert [ln.y0 for ln in lines] == [0.05]  # the threshold line is kept


def test_a_year_of_alternating_hours_shades_at_most_two_hundred_runs() -> None:
    idle = [8 if h % 2 else 0 for h in range(8760)]
    fig = charts.idle_timeline(_hours(idle, [0] * 8760), "gpu-node-1", 0.05)
    assert sum(s.type == "rect" for s in fig.layout.shapes) == 200
