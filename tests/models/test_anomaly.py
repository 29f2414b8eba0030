"""Spend anomalies: a planted spike and a fleet that goes idle are found and explained."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from models.anomaly import AnomalySettings, daily_spend, detect_anomalies, idle_costs
from models.errors import ConfigError, InputError

COST_SCHEMA = {
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "ProviderName": pl.String,
    "ServiceName": pl.String,
    "x_Team": pl.String,
    "x_AiClass": pl.String,
    "ResourceId": pl.String,
    "EffectiveCost": pl.Decimal(38, 12),
}
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SPIKE_DAYS = (40, 41, 42)


def _costs() -> pl.LazyFrame:
    """90 days: steady compute and egress with noise; an egress spike on three days."""
    rng = np.random.default_rng(7)
    rows = []
    for d in range(90):
        t = T0 + timedelta(days=d)
        for rid, base in (("i-compute-1", 900.0), ("i-compute-2", 600.0)):
            rows.append(("AWS", "Amazon EC2", "research", "gpu_compute", rid, base, t, rng))
        rows.append(("AWS", "AWS Data Transfer", "search", "egress", "i-web-1", 200.0, t, rng))
        if d in SPIKE_DAYS:
            rows.append(
                ("AWS", "AWS Data Transfer", "search", "egress", "i-etl-7", 5400.0, t, None)
            )
    data = [
        (
            t,
            p,
            s,
            team,
            cls,
            rid,
            Decimal(f"{base * (1 + (g.normal(0, 0.04) if g else 0)):.6f}"),
        )
        for p, s, team, cls, rid, base, t, g in rows
    ]
    return pl.DataFrame(data, schema=COST_SCHEMA, orient="row").lazy()


def test_daily_spend_is_zero_filled():
    d = daily_spend(_costs(), "ai_class")
    assert d.height == 2 * 90
    assert d.filter(pl.col("key") == "egress")["spend"].min() > 0


def test_planted_egress_spike_is_found_once_per_dimension_with_its_resource():
    found = detect_anomalies(_costs())
    assert set(found["dimension"]) == {"service", "team", "ai_class"}
    for row in found.iter_rows(named=True):
        assert row["start"] == date(2026, 2, 10) and row["end"] == date(2026, 2, 12)
        assert row["days"] == 3
        assert row["key"] in {"AWS Data Transfer", "search", "egress"}
        assert Decimal("15000") < row["excess"] < Decimal("17400")  # 3 x 5,400 give or take noise
        top = row["drivers"][0]
        assert top["resource_id"] == "i-etl-7"
        assert top["excess"] == Decimal("16200.00")  # new resource: all of its spend is excess
        assert all(d["resource_id"] != "i-compute-1" for d in row["drivers"])


def test_drivers_can_be_left_out_for_rollups():
    rollup = _costs().drop("ResourceId")
    found = detect_anomalies(rollup, with_drivers=False)
    assert found.height == 3 and found["drivers"].to_list() == [[], [], []]


def test_thresholds_are_settings():
    strict = AnomalySettings(min_excess_usd=20_000)
    assert detect_anomalies(_costs(), strict).height == 0
    only_team = AnomalySettings(dimensions=("team",))
    assert detect_anomalies(_costs(), only_team)["dimension"].to_list() == ["team"]


def test_noise_alone_raises_nothing():
    calm = _costs().filter(pl.col("ResourceId") != "i-etl-7")
    assert detect_anomalies(calm).height == 0


def _gpu_hours_with_a_fleet_going_idle() -> pl.LazyFrame:
    """Two GPUs billed for 60 days; their work stops on day 30 and the bill does not."""
    rows = []
    for h in range(60 * 24):
        for rid in ("i-p4d-a", "i-p4d-b"):
            idle = h >= 30 * 24
            rows.append(
                {
                    "hour": T0 + timedelta(hours=h),
                    "resource_id": rid,
                    "provider": "AWS",
                    "team": "vision",
                    "cost": Decimal("2.74"),
                    "idle_cost": Decimal("2.74") if idle else Decimal(0),
                    "state": "hard_idle" if idle else "active",
                }
            )
    schema = {
        "hour": pl.Datetime("us", "UTC"),
        "resource_id": pl.String,
        "provider": pl.String,
        "team": pl.String,
        "cost": pl.Decimal(38, 12),
        "idle_cost": pl.Decimal(38, 12),
        "state": pl.String,
    }
    return pl.DataFrame(rows, schema=schema).lazy()


def test_a_fleet_going_idle_is_found_in_idle_cost_naming_its_resources():
    gh = _gpu_hours_with_a_fleet_going_idle()
    # The bill itself is flat: nothing to see in spend.
    billed = gh.select(
        pl.col("hour").alias("ChargePeriodStart"),
        pl.col("provider").alias("ProviderName"),
        pl.lit("Amazon EC2").alias("ServiceName"),
        pl.col("team").alias("x_Team"),
        pl.lit("gpu_compute").alias("x_AiClass"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("cost").alias("EffectiveCost"),
    )
    assert detect_anomalies(billed).height == 0
    found = detect_anomalies(idle_costs(gh), AnomalySettings(dimensions=("team",)), "idle_cost")
    assert found.height == 1
    row = found.row(0, named=True)
    assert (row["measure"], row["key"], row["start"]) == ("idle_cost", "vision", date(2026, 1, 31))
    assert {d["resource_id"] for d in row["drivers"]} == {"i-p4d-a", "i-p4d-b"}
    assert row["drivers"][0]["excess"] == Decimal("65.76") * row["days"]  # 24 h x 2.74 a day


def test_settings_from_dict_is_strict():
    s = AnomalySettings.from_dict({"z_threshold": 3, "dimensions": ["team"]})
    assert s.z_threshold == 3.0 and s.dimensions == ("team",)
    with pytest.raises(ConfigError, match='did you mean "z_threshold"'):
        AnomalySettings.from_dict({"z_treshold": 3})
    with pytest.raises(ConfigError, match="wrong type"):
        AnomalySettings.from_dict({"window_days": "28"})
    with pytest.raises(ConfigError, match="unknown anomaly dimension 'teams'"):
        AnomalySettings.from_dict({"dimensions": ["teams"]})
    with pytest.raises(ConfigError, match="out of range"):
        AnomalySettings.from_dict({"window_days": 1, "min_history_days": 1})


def test_unknown_dimension_in_daily_spend_is_an_input_error():
    with pytest.raises(InputError, match="did you mean"):
        daily_spend(_costs(), "servce")


def test_monthly_fees_are_spread_over_their_days_not_read_as_spikes():
    fee_rows = [
        (
            datetime(2026, m, 1, tzinfo=UTC),
            datetime(2026, m + 1, 1, tzinfo=UTC),
            "AWS",
            "W&B Dedicated",
            "platform",
            "saas_tool",
            None,
            Decimal("4000"),
        )
        for m in (1, 2)
    ]
    schema = {**COST_SCHEMA, "ChargePeriodEnd": pl.Datetime("us", "UTC")}
    fees = pl.DataFrame(
        fee_rows,
        schema=[
            "ChargePeriodStart",
            "ChargePeriodEnd",
            "ProviderName",
            "ServiceName",
            "x_Team",
            "x_AiClass",
            "ResourceId",
            "EffectiveCost",
        ],
        orient="row",
    ).cast(schema)
    hourly = (
        _costs()
        .with_columns((pl.col("ChargePeriodStart") + pl.duration(days=1)).alias("ChargePeriodEnd"))
        .collect()
    )
    costs = pl.concat([hourly, fees.select(hourly.columns)]).lazy()
    daily = daily_spend(costs, "service").filter(pl.col("key") == "W&B Dedicated")
    assert daily.filter(pl.col("day") == date(2026, 1, 5))["spend"][0] == pytest.approx(4000 / 31)
    assert daily["spend"].sum() == pytest.approx(8000)
    found = detect_anomalies(costs)
    assert "W&B Dedicated" not in set(found["key"])
    assert found.filter(pl.col("dimension") == "service")["key"].to_list() == ["AWS Data Transfer"]


def test_baselines_taken_at_once_are_each_days_own() -> None:
    """Each day's baseline (median and median absolute deviation of the days before it, at
    most a window of them) is the same float whether taken day by day or all at once."""
    from models.anomaly import _baseline

    rng = np.random.default_rng(7)
    for n in (2, 5, 28, 29, 30, 31, 365):
        for window in (1, 7, 28):
            x = rng.gamma(2.0, 100.0, n).round(2)
            med, mad = _baseline(x, window)
            for i in range(1, n):
                w = x[max(0, i - window) : i]
                m = np.median(w)
                assert (med[i], mad[i]) == (m, np.median(np.abs(w - m))), (n, window, i)
