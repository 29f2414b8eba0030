"""Idle GPUs: billed GPU-hours, the telemetry join, states, idle cost and episodes."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from models.errors import ConfigError
from models.idle import GPU_HOURS
from models.schema import MONEY, UTC_TS, validate
from models.settings import IdleSettings, parse_settings
from tests.fixtures.idle_estates import (
    SHAPES,
    T0,
    THRESHOLDS,
    H,
    by_host,
    eight_gpus,
    five_gpus,
    owned_estate,
    runs,
    summed,
)
from tests.oracles.idle import billed_gpu_hours, gpu_hours, idle_episodes


def lines(*rows: dict[str, Any]) -> pl.LazyFrame:
    return pl.LazyFrame(
        list(rows),
        schema={
            "ResourceId": pl.String, "ResourceName": pl.String, "ChargeCategory": pl.String,
            "CommitmentDiscountStatus": pl.String, "ChargePeriodStart": UTC_TS,
            "ChargePeriodEnd": UTC_TS, "ConsumedQuantity": MONEY, "ConsumedUnit": pl.String,
            "EffectiveCost": MONEY, "ProviderName": pl.String, "x_Source": pl.String,
            "BillingCurrency": pl.String, "x_AiClass": pl.String, "x_Team": pl.String,
            "x_GpuPerInstance": pl.Float64, "x_GpuModelName": pl.String,
        },
    )  # fmt: skip


def util(rows: list[tuple]) -> pl.LazyFrame:
    """(hour, host, resource_id, gpu_index, gpu_uuid, avg, max, mem, samples)"""
    return pl.LazyFrame(
        rows,
        schema={
            "hour": UTC_TS, "host": pl.String, "resource_id": pl.String, "gpu_index": pl.Int64,
            "gpu_uuid": pl.String, "avg_active": pl.Float64, "max_active": pl.Float64,
            "max_mem_used_mib": pl.Float64, "samples": pl.Int64,
        },
        orient="row",
    )  # fmt: skip


def hours_of(billed: pl.LazyFrame, u: pl.LazyFrame, **settings: Any) -> pl.DataFrame:
    out = gpu_hours(billed, u, IdleSettings(**settings)).collect()
    assert validate(out, GPU_HOURS) == []
    return out.sort("resource_id", "hour", "gpu_index")


# Each case's inputs, (cost lines, telemetry rows): the engine runs them too
# (tests/ingest/test_gpu_hours.py), held equal to the oracle whose values are asserted here.


def test_eight_gpu_instance_with_three_idle_gpus_has_three_eighths_of_its_hour_idle() -> None:
    billed_lines, rows = eight_gpus()
    out = hours_of(billed_gpu_hours(lines(*billed_lines)), util(rows))
    assert out.height == 24
    assert set(out["cost"]) == {Decimal("10")}
    first = out.filter(pl.col("hour") == T0)["state"].to_list()
    assert first == ["hard_idle", "hard_idle", "hard_idle", "allocated_idle", "underutilised",
                     "active", "active", "active"]  # fmt: skip
    assert out.filter(pl.col("hour") == T0)["idle_cost"].sum() == Decimal("40")
    third = out.filter(pl.col("hour") == T0 + 2 * H)
    assert set(third["state"]) == {"unmonitored"} and set(third["samples"]) == {0}
    assert third["idle_cost"].sum() == 0
    assert out["month"].to_list()[:8] == ["2026-09"] * 8
    assert out["month"].to_list()[-1] == "2026-10"


@pytest.mark.parametrize(("row", "expected_rows", "cost_each"), SHAPES)
def test_billed_gpu_hours_per_line_shape(row: dict, expected_rows: int, cost_each: Decimal) -> None:
    billed = billed_gpu_hours(lines(row)).collect()
    assert billed.height == expected_rows
    assert set(billed["cost"]) == {cost_each}


def test_lines_of_one_resource_and_hour_are_summed_and_non_usage_excluded() -> None:
    billed = billed_gpu_hours(lines(*summed())).collect()
    per = billed.group_by("resource_id").agg(pl.len(), pl.col("cost").sum()).sort("resource_id")
    assert per.rows() == [
        ("i-0sp", 8, Decimal("26.4192")),
        ("projects/p/instances/a3", 8, Decimal("87.79")),
    ]
    assert set(billed["gpu_model"]) == {"H100"}


def test_telemetry_joins_by_host_and_uuid_when_ids_are_missing() -> None:
    billed_lines, rows = by_host()
    out = hours_of(billed_gpu_hours(lines(*billed_lines)), util(rows))
    assert out.select("gpu_index", "gpu_uuid", "state").rows() == [
        (0, "GPU-aaa", "active"),
        (1, "GPU-bbb", "hard_idle"),
    ]


@pytest.mark.parametrize(("settings", "states"), THRESHOLDS)
def test_thresholds_are_settings(settings: dict, states: list[str]) -> None:
    billed_lines, rows = five_gpus()
    billed = billed_gpu_hours(lines(*billed_lines))
    assert hours_of(billed, util(rows), **settings)["state"].to_list() == states


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("idle_below = -1", "[idle] idle_below is out of range — expected a fraction of "
         "activity in (0, 1], found -1.0"),
        ("idle_below = 1.5", "found 1.5"),
        ("episode_min_hours = 0", "episode_min_hours is out of range — expected whole hours, "
         "1 or more, found 0"),
        ("min_samples = 0", "min_samples is out of range"),
        ("hard_idle_mem_mib = -5.0", "hard_idle_mem_mib is out of range"),
    ],
)  # fmt: skip
def test_idle_settings_out_of_range_are_one_clear_error(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(tomllib.loads(f"[idle]\n{text}\n"), origin="site.toml")
    assert info.value.render().startswith("site.toml: ")
    assert message in info.value.render()


def test_an_empty_underutilised_band_is_allowed() -> None:
    # the dashboard's slider sets idle_below up to 50%, above underutilised_below's 30%
    assert IdleSettings(idle_below=0.5).idle_below == 0.5


def test_idle_episodes_are_runs_of_idle_hours_across_months() -> None:
    billed_lines, rows = runs()
    hours = gpu_hours(billed_gpu_hours(lines(*billed_lines)), util(rows), IdleSettings())
    eps = idle_episodes(hours, IdleSettings()).collect()
    assert eps.select("start", "end", "hours", "cost").rows() == [
        (T0, T0 + 3 * H, 3, Decimal("6")),
        (T0 + 4 * H, T0 + 5 * H, 1, Decimal("2")),
        (T0 + 7 * H, T0 + 9 * H, 2, Decimal("4")),
    ]
    longer = idle_episodes(hours, IdleSettings(episode_min_hours=2)).collect()
    assert longer["hours"].to_list() == [3, 2]


def test_onprem_gpu_hours_cost_the_owned_fixed_rate_not_the_daily_line() -> None:
    # the daily lines include energy above idle (and differ day to day); an owned GPU-hour,
    # idle or not, costs F/(N x 8760) (gpu_economics.md B5), without capital after its life
    billed_lines, owned = owned_estate()
    billed = billed_gpu_hours(lines(*billed_lines), owned).collect()
    per = billed.group_by("resource_id").agg(pl.len(), pl.col("cost").unique()).sort("resource_id")
    assert per.rows() == [
        ("ASSET-9", 192, [Decimal(1)]),  # no asset row: the daily line / (24 x 8)
        ("OLD-2", 192, [Decimal("0.1375")]),
        ("asset-1", 192, [Decimal("1.1375")]),
        ("i-0cloud", 8, [Decimal(2)]),
    ]
    idle = hours_of(billed.lazy(), util([]))
    assert idle.filter(pl.col("resource_id") == "asset-1")["cost"].sum() == Decimal("218.4")
