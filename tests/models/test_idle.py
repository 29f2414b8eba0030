"""Idle GPUs: billed GPU-hours, the telemetry join, states, idle cost and episodes."""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import polars as pl
import pytest

from models.errors import ConfigError
from models.idle import GPU_HOURS, owned_rates
from models.schema import MONEY, UTC_TS, validate
from models.settings import IdleSettings, parse_settings
from tests.oracles.idle import billed_gpu_hours, gpu_hours, idle_episodes

T0 = datetime(2026, 9, 30, 22, tzinfo=UTC)
H = timedelta(hours=1)


def line(resource: str, start: datetime, hours: float, cost: str, **kw: Any) -> dict[str, Any]:
    """A cost line billing `hours` (the period too unless `period`; `qty=None`: no quantity)."""
    return {
        "ResourceId": resource,
        "ResourceName": kw.pop("host", None),
        "ChargeCategory": kw.pop("category", "Usage"),
        "CommitmentDiscountStatus": kw.pop("status", None),
        "ChargePeriodStart": start,
        "ChargePeriodEnd": start + kw.pop("period", hours) * H,
        "ConsumedQuantity": None if (q := kw.pop("qty", hours)) is None else Decimal(str(q)),
        "ConsumedUnit": kw.pop("unit", "Hrs"),
        "EffectiveCost": Decimal(cost),
        "ProviderName": kw.pop("provider", "AWS"),
        "x_Source": kw.pop("source", "aws-cur2"),
        "BillingCurrency": kw.pop("currency", "USD"),
        "x_AiClass": kw.pop("cls", "gpu_compute"),
        "x_Team": kw.pop("team", "research"),
        "x_GpuPerInstance": kw.pop("gpus", 8.0),
        "x_GpuModelName": kw.pop("model", "H100"),
    }


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


def eight_gpus() -> tuple[list[dict[str, Any]], list[tuple]]:
    billed = [line("i-0p5", T0 + h * H, 1, "80") for h in range(3)]
    rows = []
    for h in range(2):  # third hour has no telemetry
        for g in range(8):
            avg, mx, mem = {0: (0.0, 0.0, 0.0), 1: (0.005, 0.008, 300.0), 2: (0.01, 0.0, 0.0),
                            3: (0.02, 0.04, 30_000.0), 4: (0.2, 0.5, 40_000.0)}.get(
                g, (0.9, 1.0, 70_000.0))  # fmt: skip
            rows.append((T0 + h * H, "ip-10-0-0-1", "i-0p5", g, f"GPU-{g}", avg, mx, mem, 60))
    return billed, rows


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


SHAPES = [
    # on-prem: one line per asset per day, amortised cost, GPU-hours as the unit
    (line("ASSET-1", T0, 24, "192", unit="GPU-Hours", qty=192, source="onprem",
          provider="Acme Colo"), 192, Decimal("1")),
    # Azure daily VM row that ran 10 hours: 10 hours billed, from the start of the day
    (line("/subscriptions/s/vm/a", T0, 24, "30", qty=10, unit="1 Hour", gpus=1.0,
          provider="Microsoft"), 10, Decimal("3")),
    # fractional GPU VM (NV6ads A10 v5 = 1/6 GPU): one GPU row carrying the cost
    (line("/subscriptions/s/vm/nv6", T0, 1, "0.45", unit="1 Hour", gpus=0.1667), 1,
     Decimal("0.45")),
    # unknown GPU count: one row (never dropped)
    (line("i-0unknown", T0, 1, "5", gpus=None), 1, Decimal("5")),
]  # fmt: skip


@pytest.mark.parametrize(("row", "expected_rows", "cost_each"), SHAPES)
def test_billed_gpu_hours_per_line_shape(row: dict, expected_rows: int, cost_each: Decimal) -> None:
    billed = billed_gpu_hours(lines(row)).collect()
    assert billed.height == expected_rows
    assert set(billed["cost"]) == {cost_each}


def summed() -> list[dict[str, Any]]:
    return [
        line("projects/p/instances/a3", T0, 1, "78.37", gpus=8.0, provider="Google Cloud"),
        line("projects/p/instances/a3", T0, 1, "6.24", gpus=None, model=None),  # cores
        line("projects/p/instances/a3", T0, 1, "3.18", gpus=None, model=None),  # RAM
        line("i-0sp", T0, 1, "26.4192", gpus=8.0),  # savings-plan covered usage
        line("i-0sp", T0, 1, "0", gpus=8.0),  # its negation: effective 0
        line("ri-unused", T0, 1, "50", status="Unused"),
        line("i-0tax", T0, 1, "9", category="Tax"),
        line("i-0cpu", T0, 1, "1", cls="cpu_compute"),
    ]


def test_lines_of_one_resource_and_hour_are_summed_and_non_usage_excluded() -> None:
    billed = billed_gpu_hours(lines(*summed())).collect()
    per = billed.group_by("resource_id").agg(pl.len(), pl.col("cost").sum()).sort("resource_id")
    assert per.rows() == [
        ("i-0sp", 8, Decimal("26.4192")),
        ("projects/p/instances/a3", 8, Decimal("87.79")),
    ]
    assert set(billed["gpu_model"]) == {"H100"}


def by_host() -> tuple[list[dict[str, Any]], list[tuple]]:
    return [line("ASSET-7", T0, 1, "16", host="gpu-a100-07", gpus=2.0)], [
        (T0, "GPU-A100-07", None, None, "GPU-bbb", 0.01, 0.005, 0.0, 4),
        (T0, "GPU-A100-07", None, None, "GPU-aaa", 0.8, 0.9, 9000.0, 4),
    ]


def test_telemetry_joins_by_host_and_uuid_when_ids_are_missing() -> None:
    billed_lines, rows = by_host()
    out = hours_of(billed_gpu_hours(lines(*billed_lines)), util(rows))
    assert out.select("gpu_index", "gpu_uuid", "state").rows() == [
        (0, "GPU-aaa", "active"),
        (1, "GPU-bbb", "hard_idle"),
    ]


def five_gpus() -> tuple[list[dict[str, Any]], list[tuple]]:
    return [line("i-0g6", T0, 1, "5", gpus=5.0)], [
        (T0, "h", "i-0g6", 0, None, 0.0, 0.0, 0.0, 6),
        (T0, "h", "i-0g6", 1, None, 0.03, 0.2, 0.0, 6),
        (T0, "h", "i-0g6", 2, None, 0.2, 0.6, 0.0, 6),
        (T0, "h", "i-0g6", 3, None, 0.5, 0.9, 0.0, 6),
    ]


THRESHOLDS = [
    ({}, ["hard_idle", "allocated_idle", "underutilised", "active", "unmonitored"]),
    ({"idle_below": 0.25}, ["hard_idle", "allocated_idle", "allocated_idle", "active",
                            "unmonitored"]),
    ({"min_samples": 10}, ["unmonitored"] * 5),
]  # fmt: skip


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


def runs() -> tuple[list[dict[str, Any]], list[tuple]]:
    pattern = [0.0, 0.0, 0.0, 0.9, 0.01, 0.9, 0.9, 0.0, 0.0, 0.9]
    return [line("i-0a", T0 + k * H, 1, "2", gpus=1.0) for k in range(len(pattern))], [
        (T0 + k * H, "h", "i-0a", 0, "GPU-1", a, a, 0.0, 60) for k, a in enumerate(pattern)
    ]


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


def asset(asset_id: str, purchased: datetime) -> dict[str, Any]:
    """8 GPUs; A = 280,320 / 4 y = 70,080; O = 8,760; idle power 1 kW x 0.10 = 876 a year:
    F = 79,716, so F/(8 x 8760) = 1.1375 a GPU-hour, and 0.1375 once the capital is spent."""
    return {
        "asset_id": asset_id, "gpus": 8, "purchase_date": purchased, "retired_date": None,
        "server_capex": Decimal(280_320), "network_capex": Decimal(0),
        "life_years": Decimal(4), "residual_fraction": Decimal(0), "wacc": None,
        "power_idle_kw": Decimal(1), "power_load_kw": Decimal(6), "provisioned_kw": Decimal(0),
        "pue": Decimal(1), "usd_per_kwh": Decimal("0.10"), "colo_usd_per_kw_month": Decimal(0),
        "ops_usd_per_year": Decimal(8_760),
    }  # fmt: skip


def owned_estate() -> tuple[list[dict[str, Any]], pl.DataFrame]:
    owned = owned_rates(
        pl.DataFrame([asset("ASSET-1", datetime(2025, 1, 1)), asset("Old-2", datetime(2020, 1, 1))])
    )
    return [
        line("asset-1", T0, 24, "250.123", unit="GPU-Hours", qty=192, source="onprem"),
        line("OLD-2", T0, 24, "40", unit="GPU-Hours", qty=192, source="onprem"),
        line("i-0cloud", T0, 1, "16", gpus=8.0),  # cloud: still the bill
        line("ASSET-9", T0, 24, "192", unit="GPU-Hours", qty=192, source="onprem"),
    ], owned


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
