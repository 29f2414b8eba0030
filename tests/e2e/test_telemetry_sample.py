"""The sample enterprise's telemetry, inventory and invoices against its planted truth."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from ingest.warehouse.connection import connect

pytestmark = pytest.mark.slow  # needs the built sample warehouse

CENT = Decimal("0.01")


def _totals(root: Path, source: str) -> dict[tuple[str, str, str], Decimal]:
    rows = (
        connect(root)
        .execute(
            "select ProviderName, strftime(BillingPeriodStart, '%Y-%m'), BillingCurrency, "
            "sum(BilledCost) from cost_lines where x_Source = ? group by all",
            [source],
        )
        .fetchall()
    )
    return {(p, m, c): t.quantize(CENT) for p, m, c, t in rows}


def _truth(truth: dict, source: str) -> dict[tuple[str, str, str], Decimal]:
    out: dict[tuple[str, str, str], Decimal] = {}
    for t in truth["totals"]:
        if t["source"] == source:
            key = (t["provider"], t["billing_period"], t["currency"])
            out[key] = out.get(key, Decimal(0)) + Decimal(t["billed_cost"])
    return {k: v.quantize(CENT) for k, v in out.items()}


def test_saas_totals_match_the_truth(sample_warehouse: Path, sample_truth: dict) -> None:
    assert _totals(sample_warehouse, "saas") == _truth(sample_truth, "saas")


def test_every_monitored_gpu_hour_is_one_row_and_idle_hours_match(
    sample_warehouse: Path, sample_truth: dict
) -> None:
    con = connect(sample_warehouse)
    monitored = sum(
        d["paid_gpu_hours"] - d["unmonitored_gpu_hours"] for d in sample_truth["gpu_demand_hourly"]
    )
    threshold = sample_truth["meta"]["idle_threshold"]
    rows, idle, dup = con.execute(
        "select count(*), count(*) filter (where avg_active < ?), "
        "count(*) - count(distinct (host, gpu_uuid, hour)) from gpu_util",
        [threshold],
    ).fetchall()[0]
    assert dup == 0
    assert rows == monitored
    assert idle == sum(r["gpu_hours_idle"] for r in sample_truth["idle_gpu"])
    unmapped = con.execute("select count(*) from gpu_util where resource_id is null").fetchall()
    assert unmapped == [(0,)]


def test_onprem_totals_match_the_truth(sample_warehouse: Path, sample_truth: dict) -> None:
    """Energy above idle from the measured power of monitored servers, the load estimate for
    the server without telemetry: each month to the cent."""
    assert _totals(sample_warehouse, "onprem") == _truth(sample_truth, "onprem")
    bases = (
        connect(sample_warehouse)
        .execute(
            "select ResourceId, list(distinct json_extract_string(x_CostModel, '$.energy_basis')) "
            "from cost_lines where x_Source = 'onprem' group by 1"
        )
        .fetchall()
    )
    assets = connect(sample_warehouse).execute("select asset_id, hostnames from assets").fetchall()
    unmonitored = {
        a
        for a, hosts in assets
        if set(hosts.split(";")) & set(sample_truth["meta"]["unmonitored_hosts"])
    }
    assert len(unmonitored) == 1
    for asset, kinds in bases:
        assert kinds == (["load_estimate"] if asset in unmonitored else ["telemetry"]), asset
