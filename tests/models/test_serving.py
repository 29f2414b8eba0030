"""Counters -> hourly serving usage: Prometheus counter semantics (resets count from zero,
no extrapolation), several series of one model summed, a model moved between hosts."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from models.errors import InputError
from models.serving import POINTS, check_points, host_of, usage

T0 = datetime(2026, 6, 15, 9, tzinfo=UTC).timestamp()


def points(series: list[tuple[dict, list[tuple[float, float]]]]) -> pl.DataFrame:
    """[(labels, [(seconds after T0, value)])] -> POINTS rows, one id per series."""
    rows = []
    for sid, (labels, values) in enumerate(series):
        base = {"host": "gpu-1", "namespace": None, "pod": None, "server": "vllm",
                "model": "llama", "field": "requests", "file": "answers.json",
                **labels}  # fmt: skip
        rows += [{**base, "series": sid, "ts": T0 + t, "value": v} for t, v in values]
    return pl.DataFrame(rows, schema=POINTS).sort("series", "ts")


def hours(frame: pl.DataFrame, column: str = "requests") -> dict[tuple, float]:
    out = usage(frame).collect()
    return {(r["hour"].hour, r["host"], r["model"]): r[column] for r in out.iter_rows(named=True)}


def test_a_reset_counts_from_zero_like_prometheus_increase() -> None:
    # 100 -> 160 -> (restart) 25 -> 40, then 70 in the next hour: 60 + 25 + 15, then 30
    frame = points([({}, [(0, 100), (900, 160), (1800, 25), (2700, 40), (3600, 70)])])
    got = usage(frame).collect()
    assert got["requests"].to_list() == [100.0, 30.0]
    assert got["resets"].to_list() == [1, 0]


def test_the_first_sample_starts_the_series_and_nothing_is_extrapolated() -> None:
    # one sample alone says nothing about growth; two 15 minutes apart say exactly their gap,
    # where increase() over the hour would have extrapolated 10 to 40
    assert hours(points([({}, [(0, 5_000)])])) == {(9, "gpu-1", "llama"): 0.0}
    assert hours(points([({}, [(0, 5_000), (900, 5_010)])])) == {(9, "gpu-1", "llama"): 10.0}


def test_the_gap_across_an_hour_belongs_to_the_later_sample_and_is_counted_once() -> None:
    frame = points([({}, [(2700, 10), (3600 + 900, 50)])])  # a scrape missed at 10:00
    assert hours(frame) == {(9, "gpu-1", "llama"): 0.0, (10, "gpu-1", "llama"): 40.0}


def test_series_of_one_model_add_up_and_tokens_stay_apart_from_requests() -> None:
    frame = points(
        [
            ({}, [(0, 0), (900, 90)]),  # finished_reason="stop"
            ({}, [(0, 0), (900, 10)]),  # finished_reason="length"
            ({"field": "generation_tokens"}, [(0, 0), (900, 25_000)]),
        ]
    )
    got = usage(frame).collect().row(0, named=True)
    assert (got["requests"], got["generation_tokens"], got["prompt_tokens"]) == (100, 25_000, None)


def test_a_model_moved_between_hosts_mid_hour_is_served_by_both() -> None:
    frame = points(
        [
            ({"host": "gpu-1"}, [(0, 0), (900, 30)]),  # stopped here at 09:15
            ({"host": "gpu-2"}, [(1800, 0), (2700, 12), (3600, 20)]),  # started at 09:30
        ]
    )
    assert hours(frame) == {
        (9, "gpu-1", "llama"): 30.0,
        (9, "gpu-2", "llama"): 12.0,
        (10, "gpu-2", "llama"): 8.0,
    }


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([(0, 5), (900, -1)], "negative counter value"),
        ([(0, 5), (900, 6), (600, 7)], "time does not increase within a series"),
        ([(0, 5), (0, 5)], "time does not increase within a series"),
    ],
)
def test_bad_counters_get_one_clear_message(values, message) -> None:
    frame = points([({}, values)])
    unsorted = pl.DataFrame(
        [{**frame.row(0, named=True), "ts": T0 + t, "value": v} for t, v in values], schema=POINTS
    )
    with pytest.raises(InputError) as err:
        check_points(unsorted)
    text = err.value.render()
    assert message in text and "answers.json" in text and "model llama on gpu-1" in text


@pytest.mark.parametrize(
    ("labels", "host"),
    [
        ({"Hostname": "gpu-1", "instance": "10.0.0.5:8000"}, "gpu-1"),
        ({"node": "aks-gpu-1", "instance": "10.0.0.5:8000"}, "aks-gpu-1"),
        ({"instance": "nc-a100-serve-01:8000"}, "nc-a100-serve-01"),
        ({"instance": "[fd00::5]:8000"}, "fd00::5"),
        ({"job": "vllm"}, None),
    ],
)
def test_the_host_of_a_series(labels, host) -> None:
    assert host_of(labels) == host
