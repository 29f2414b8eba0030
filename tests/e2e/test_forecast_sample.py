"""Forecast backtests on the sample enterprise."""

from __future__ import annotations

import pytest

from models.forecast import backtest

pytestmark = pytest.mark.slow  # needs the built sample warehouse


@pytest.mark.slow
def test_sample_enterprise_backtest_mape_per_provider(request, capsys):
    from tests.fixtures.sample_views import read_view, sample_or_skip

    warehouse, truth = sample_or_skip(request)
    costs = read_view(
        warehouse,
        "select ChargePeriodStart, ProviderName, ServiceName, x_Team, x_AiClass, ResourceId, "
        "EffectiveCost from classified_costs",
    )
    bt = backtest(costs, by="provider")
    with capsys.disabled():
        print("\nbacktest, last 3 months held out:")
        for r in bt.iter_rows(named=True):
            mape = "n/a" if r["mape"] is None else f"{r['mape']:.1%}"
            print(f"  {r['key']:<20} MAPE {mape:>7}  ({r['method']}, {r['train_months']} months)")
    providers = {t["provider"] for t in truth.get("totals", [])}
    assert providers <= set(bt["key"])
    for r in bt.iter_rows(named=True):
        if r["train_months"] >= 6 and r["mape"] is not None:
            assert 0 <= r["mape"] < 1.0, r  # a sanity bound: a broken fit is far off
