"""Monthly spend forecasts: intervals, short series, partial months and the backtest."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl
import pytest

from models.errors import InputError
from models.forecast import backtest, fit_series, forecast_spend, monthly_spend

COST_SCHEMA = {
    "ChargePeriodStart": pl.Datetime("us", "UTC"),
    "ProviderName": pl.String,
    "ServiceName": pl.String,
    "x_Team": pl.String,
    "x_AiClass": pl.String,
    "ResourceId": pl.String,
    "EffectiveCost": pl.Decimal(38, 12),
}


def _costs(months: int, *, partial_days: int = 0, seed: int = 3) -> pl.LazyFrame:
    """Daily rows from Jan 2024 for `months` whole months (+ `partial_days` of the next).

    AWS grows 2% a month with a yearly swing; Microsoft is flat; Google Cloud starts late.
    """
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    end = _add_months(start, months) + timedelta(days=partial_days)
    rows = []
    t = start
    while t < end:
        m = (t.year - 2024) * 12 + t.month - 1
        season = 1 + 0.15 * math.sin(2 * math.pi * t.month / 12)
        for prov, cls, daily in (
            ("AWS", "gpu_compute", 1000 * 1.02**m * season),
            ("Microsoft", "egress", 300.0),
        ):
            v = daily * (1 + rng.normal(0, 0.02))
            rows.append((t, prov, "svc", "ml", cls, "r", Decimal(f"{v:.6f}")))
        if m >= months - 2:
            rows.append((t, "Google Cloud", "svc", "ml", "storage", "r", Decimal("50")))
        t += timedelta(days=1)
    return pl.DataFrame(rows, schema=COST_SCHEMA, orient="row").lazy()


def _add_months(t: datetime, n: int) -> datetime:
    y, m = divmod(t.month - 1 + n, 12)
    return t.replace(year=t.year + y, month=m + 1)


def test_monthly_spend_drops_a_partial_last_month_and_zero_fills():
    spend = monthly_spend(_costs(6, partial_days=10), "provider")
    assert spend["month"].max() == date(2024, 6, 1)
    gcp = spend.filter(pl.col("key") == "Google Cloud")
    assert gcp.height == 6 and gcp["spend"].to_list()[:4] == [Decimal(0)] * 4
    full = monthly_spend(_costs(6), "provider")
    assert full["month"].max() == date(2024, 6, 1)
    ms = full.filter(pl.col("key") == "Microsoft")["spend"]
    assert float(ms.sum()) == pytest.approx(300 * 182, rel=0.01)


@pytest.mark.parametrize("by", ["provider", "ai_class"])
def test_forecast_has_nested_intervals_and_the_requested_horizon(by):
    f = forecast_spend(_costs(30), by=by, horizon=6)
    fc = f.filter(pl.col("kind") == "forecast")
    assert fc.group_by("key").len()["len"].to_list() == [6] * fc["key"].n_unique()
    assert fc["month"].min() == date(2026, 7, 1) and fc["month"].max() == date(2026, 12, 1)
    long = fc.filter(pl.col("key").is_in(["AWS", "gpu_compute"]))
    assert set(long["method"]) <= {"ETS(A,Ad,A) m=12", "ETS(A,N,A) m=12"}  # seasonal wins
    for r in long.iter_rows(named=True):
        assert r["lo95"] <= r["lo80"] <= r["spend"] <= r["hi80"] <= r["hi95"]
    # intervals widen with the horizon
    widths = [r["hi95"] - r["lo95"] for r in long.iter_rows(named=True)]
    assert widths[-1] > widths[0]
    # the trend carries on: next month's AWS forecast above the last year's average
    actual = f.filter((pl.col("kind") == "actual") & pl.col("key").is_in(["AWS", "gpu_compute"]))
    assert long["spend"][0] > actual["spend"].tail(12).mean()


def test_short_series_use_simpler_models():
    f = forecast_spend(_costs(8), horizon=3)
    methods = dict(
        f.filter(pl.col("kind") == "forecast").select("key", "method").unique().iter_rows()
    )
    assert methods["AWS"] in {"ETS(A,N,N)", "ETS(A,Ad,N)"}  # 8 months: no season
    # Google Cloud started 2 months ago: the months before it existed are not its history
    assert methods["Google Cloud"] == "last value"
    two = forecast_spend(_costs(2), horizon=3).filter(pl.col("kind") == "forecast")
    assert set(two["method"]) == {"last value"}
    assert two["lo80"].null_count() == two.height  # no interval without an error estimate


@pytest.mark.parametrize(
    ("months", "growth", "season", "expected"),
    [
        (12, 0.05, 0.0, "ETS(A,Ad,N)"),  # a steady climb: trend
        (36, 0.03, 0.4, "ETS(A,Ad,A) m=12"),  # three years of a yearly swing: season
        (30, 0.0, 0.0, "ETS(A,N,N)"),  # flat with noise: level only
    ],
)
def test_model_is_chosen_by_aicc_among_what_the_history_supports(months, growth, season, expected):
    rng = np.random.default_rng(0)
    t = np.arange(months)
    y = 30_000 * (1 + growth) ** t * (1 + season * np.sin(2 * np.pi * (t + 1) / 12))
    y = y * (1 + rng.normal(0, 0.01, months))
    assert fit_series(y, 3).method == expected


def test_constant_series_forecasts_itself():
    fit = fit_series(np.full(10, 42.0), 3)
    assert fit.method == "constant" and fit.mean.tolist() == [42.0] * 3


def test_backtest_reports_mape_per_provider():
    bt = backtest(_costs(30), by="provider")
    rows = {r["key"]: r for r in bt.iter_rows(named=True)}
    assert rows["AWS"]["train_months"] == 27
    assert 0 <= rows["AWS"]["mape"] < 0.10
    assert rows["Microsoft"]["mape"] < 0.05
    # recomputed: MAPE is the mean relative error of the 3 held-out months
    spend = monthly_spend(_costs(30), "provider").filter(pl.col("key") == "AWS")
    y = spend["spend"].cast(pl.Float64).to_numpy()
    pred = np.maximum(fit_series(y[:-3], 3).mean, 0)
    assert rows["AWS"]["mape"] == pytest.approx(np.mean(np.abs(y[-3:] - pred) / y[-3:]))
    assert rows["Google Cloud"]["mape"] is None  # too short to hold out 3 months


def test_bad_arguments_are_clear_errors():
    with pytest.raises(InputError, match="horizon"):
        forecast_spend(_costs(6), horizon=0)
    with pytest.raises(InputError, match="cannot forecast by"):
        forecast_spend(_costs(6), by="region")
    empty = _costs(6).filter(pl.lit(False))
    with pytest.raises(InputError, match="no cost rows"):
        forecast_spend(empty)
