"""Anomalies found in the sample enterprise's classified costs."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from models.anomaly import AnomalySettings, detect_anomalies, idle_costs

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
@pytest.mark.heavy  # ~50 s of detection over the whole sample: runs with `make test-heavy`
def test_sample_enterprise_egress_spike_and_idle_fleet_are_found(request):
    from tests.fixtures.sample_views import read_view, sample_or_skip

    warehouse, truth = sample_or_skip(request)
    costs = read_view(
        warehouse,
        "select ChargePeriodStart, ProviderName, ServiceName, x_Team, x_AiClass, ResourceId, "
        "EffectiveCost from classified_costs",
    )
    spike = next(e for e in truth.get("events", []) if e.get("kind") == "egress_spike")
    first, last = date.fromisoformat(spike["start"]), date.fromisoformat(spike["end"])
    found = detect_anomalies(costs).filter(
        (pl.col("dimension") == "ai_class")
        & (pl.col("key") == "egress")
        & (pl.col("start") <= last)
        & (pl.col("end") >= first)
    )
    assert found.height >= 1, "the egress spike was not found"
    assert found["drivers"][0][0]["resource_id"] == spike["resource_id"]

    # The idle fleet: resources idle for a week or more at a cost worth an alert (a whole
    # host idle costs at least twice the default minimum excess a day).
    settings = AnomalySettings(dimensions=("team",))
    long_idle = [
        (r["resource_id"], r["team"], e["start"][:10])
        for r in truth.get("idle_gpu", [])
        for e in r["episodes"]
        if e["hours"] >= 24 * 7
        and float(r["idle_cost"]) / r["gpu_hours_idle"] * r["gpus"] * 24
        >= 2 * settings.min_excess_usd
    ]
    assert long_idle, "truth.json names no idle fleet"
    gpu_hours = read_view(
        warehouse, "select hour, provider, team, resource_id, idle_cost from gpu_hours"
    )
    idle = detect_anomalies(idle_costs(gpu_hours), settings, "idle_cost")
    for resource, team, start in long_idle:
        day = date.fromisoformat(start)
        hits = idle.filter(
            (pl.col("key") == team)
            & (pl.col("start") >= day - timedelta(days=1))
            & (pl.col("start") <= day + timedelta(days=2))
        )
        named = {d["resource_id"] for ds in hits["drivers"] for d in ds}
        assert resource in named, f"idle {resource} ({team}, from {start}) not named"
