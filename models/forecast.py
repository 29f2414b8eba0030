"""Monthly spend forecasts per provider and per AI class, with 80% and 95% intervals.

Library: statsmodels' state-space ETS (`statsmodels.tsa.exponential_smoothing.ets.ETSModel`).
Why: it is already a dependency, installs as wheels without a native toolchain (unlike
Prophet's cmdstan), is actively maintained, and its state-space form gives prediction
intervals at any level from the fitted error variance rather than from a bootstrap we would
have to write. Holt-Winters exponential smoothing is also what finance teams recognise.

Models (additive errors) are chosen by AICc among those the history can support, so a
level-only model wins when a trend would only extrapolate a one-off step:

- >= 3 months: level only (simple exponential smoothing)
- >= 6: also a damped additive trend
- >= 24 (two seasons): also additive yearly seasonality, with and without the damped trend
  (one season cannot separate season from noise)
- 1-2 months: the last month carried forward, without intervals (no error to estimate)

A series starts at its first month with spend. A month that the data covers only in part
(the current month) is left out of fitting and backtests, since a partial month reads as a
fall in spend. Lower bounds are clipped at zero.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import polars as pl

from models.errors import InputError

DIMENSIONS = {"provider": "ProviderName", "ai_class": "x_AiClass", "service": "ServiceName"}
LEVELS = (0.80, 0.95)
SEASON = 12
_CENT = Decimal("0.01")


def monthly_spend(costs: pl.LazyFrame, by: str) -> pl.DataFrame:
    """Spend per (key, month) over complete months, zero-filled; columns key, month, spend."""
    col = _dimension(by)
    monthly = (
        costs.select(
            pl.col("ChargePeriodStart").dt.truncate("1mo").dt.date().alias("month"),
            pl.col(col).fill_null("(none)").alias("key"),
            pl.col("EffectiveCost"),
            pl.col("ChargePeriodStart").alias("ts"),
        )
        .group_by("key", "month")
        .agg(pl.col("EffectiveCost").sum().alias("spend"), pl.col("ts").max().alias("last"))
        .collect()
    )
    if monthly.height == 0:
        raise InputError("no cost rows to forecast", hint="ingest billing data first")
    last_seen = monthly["last"].max()
    months = pl.date_range(monthly["month"].min(), monthly["month"].max(), "1mo", eager=True)
    # The last month counts only if the data reaches its final day.
    if last_seen.date() < _month_end(months[-1]):
        months = months[:-1]
    grid = pl.DataFrame({"key": monthly["key"].unique().sort()}).join(
        pl.DataFrame({"month": months}), how="cross"
    )
    return (
        grid.join(monthly.select("key", "month", "spend"), on=["key", "month"], how="left")
        .with_columns(pl.col("spend").fill_null(Decimal(0)).cast(pl.Decimal(38, 12)))
        .sort("key", "month")
    )


@dataclass(frozen=True)
class Fit:
    method: str
    mean: np.ndarray
    intervals: dict[float, tuple[np.ndarray, np.ndarray]]  # empty when too short


def fit_series(values: np.ndarray, horizon: int) -> Fit:
    """Forecast `horizon` steps of a monthly series (see the module doc for the model)."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    if n == 0:
        raise InputError("cannot forecast an empty series")
    if n < 3 or np.allclose(y, y[0]):
        flat = np.full(horizon, y[-1])
        ivals = {} if n < 3 else {lv: (flat.copy(), flat.copy()) for lv in LEVELS}
        return Fit("last value" if n < 3 else "constant", flat, ivals)
    import pandas as pd
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    candidates = [({}, "ETS(A,N,N)")]
    if n >= 6:
        candidates.append((dict(trend="add", damped_trend=True), "ETS(A,Ad,N)"))
    if n >= 2 * SEASON:
        season = dict(seasonal="add", seasonal_periods=SEASON)
        candidates += [
            (season, "ETS(A,N,A) m=12"),
            ({**candidates[1][0], **season}, "ETS(A,Ad,A) m=12"),
        ]
    # With two seasons, start the states from a classical decomposition: estimating 12
    # seasonal states by likelihood from so few points fails to converge.
    init = "heuristic" if n >= 2 * SEASON else "estimated"
    best = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence chatter on short, noisy cost series
        for kw, name in candidates:
            try:
                model = ETSModel(pd.Series(y), error="add", initialization_method=init, **kw)
                result = model.fit(disp=False)
            except (ValueError, np.linalg.LinAlgError):
                continue  # a degenerate series for this form; the others may fit
            score = result.aicc if np.isfinite(result.aicc) else np.inf
            if best is None or score < best[0]:
                best = (score, result, name)
        if best is None:
            return Fit("last value", np.full(horizon, y[-1]), {})
        _, result, method = best
        pred = result.get_prediction(start=n, end=n + horizon - 1)
        mean = np.asarray(pred.predicted_mean, dtype=float)
        ivals = {}
        for lv in LEVELS:
            frame = pred.summary_frame(alpha=1 - lv)
            ivals[lv] = (frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float))
    return Fit(method, mean, ivals)


def forecast_spend(costs: pl.LazyFrame, by: str = "provider", horizon: int = 6) -> pl.DataFrame:
    """Actual and forecast monthly spend per key of `by` (provider, ai_class or service).

    Columns: key, month, kind ("actual" | "forecast"), spend, lo80, hi80, lo95, hi95 (Decimal
    cents; intervals null for actuals and for series too short to estimate them), method.
    """
    if not isinstance(horizon, int) or not 1 <= horizon <= 24:
        raise InputError("forecast horizon must be 1-24 months", found=repr(horizon))
    spend = monthly_spend(costs, by)
    rows = []
    for (key,), part in spend.group_by("key", maintain_order=True):
        part = _since_first_spend(part)
        months = part["month"].to_list()
        y = part["spend"].cast(pl.Float64).to_numpy()
        fit = fit_series(y, horizon)
        for m, v in zip(months, part["spend"].to_list(), strict=True):
            rows.append(_row(key, m, "actual", _cents(v), None, fit.method))
        future = _next_month(months[-1])
        for i in range(horizon):
            ivals = {lv: (lo[i], hi[i]) for lv, (lo, hi) in fit.intervals.items()}
            rows.append(
                _row(key, future, "forecast", _cents(max(fit.mean[i], 0)), ivals, fit.method)
            )
            future = _next_month(future)
    return pl.DataFrame(rows, schema=_SCHEMA, orient="row")


def backtest(costs: pl.LazyFrame, by: str = "provider", holdout: int = 3) -> pl.DataFrame:
    """Fit without the last `holdout` complete months, forecast them, report MAPE per key.

    MAPE = mean(|actual - forecast| / |actual|) over held-out months with non-zero actuals;
    null when the series is too short (fewer than 3 training months) or the actuals are zero.
    """
    spend = monthly_spend(costs, by)
    rows = []
    for (key,), part in spend.group_by("key", maintain_order=True):
        y = _since_first_spend(part)["spend"].cast(pl.Float64).to_numpy()
        train, test = y[:-holdout], y[-holdout:]
        if len(train) < 3 or len(test) < holdout:
            rows.append((key, len(train), None, None, None, None))
            continue
        fit = fit_series(train, holdout)
        pred = np.maximum(fit.mean, 0)
        nz = test != 0
        mape = float(np.mean(np.abs(test[nz] - pred[nz]) / np.abs(test[nz]))) if nz.any() else None
        rows.append((key, len(train), fit.method, _cents(test.sum()), _cents(pred.sum()), mape))
    return pl.DataFrame(
        rows,
        schema={
            "key": pl.String,
            "train_months": pl.Int64,
            "method": pl.String,
            "actual": pl.Decimal(38, 2),
            "forecast": pl.Decimal(38, 2),
            "mape": pl.Float64,
        },
        orient="row",
    )


_SCHEMA = {
    "key": pl.String,
    "month": pl.Date,
    "kind": pl.String,
    "spend": pl.Decimal(38, 2),
    "lo80": pl.Decimal(38, 2),
    "hi80": pl.Decimal(38, 2),
    "lo95": pl.Decimal(38, 2),
    "hi95": pl.Decimal(38, 2),
    "method": pl.String,
}


def _since_first_spend(part: pl.DataFrame) -> pl.DataFrame:
    """A series starts at its first material month: months before a provider or class existed
    are not history of it, even when they carry a rounding line of a fraction of a cent.
    Material = at least 1% of the series' largest month (and at least one currency unit)."""
    spend = part["spend"].cast(pl.Float64).abs()
    floor = max(1.0, 0.01 * float(spend.max() or 0.0))
    material = (spend >= floor).arg_true()
    return part.slice(int(material[0])) if len(material) else part.tail(1)


def _row(key, month, kind, spend, ivals, method) -> tuple:
    bounds = []
    for lv in LEVELS:
        if ivals and lv in ivals:
            lo, hi = ivals[lv]
            bounds += [_cents(max(lo, 0)), _cents(max(hi, 0))]
        else:
            bounds += [None, None]
    return (key, month, kind, spend, *bounds, method)


def _cents(x) -> Decimal:
    d = x if isinstance(x, Decimal) else Decimal(repr(float(x)))
    return d.quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _next_month(d: date) -> date:
    return date(d.year + d.month // 12, d.month % 12 + 1, 1)


def _month_end(d: date) -> date:
    return date.fromordinal(_next_month(d).toordinal() - 1)


def _dimension(by: str) -> str:
    if by not in DIMENSIONS:
        raise InputError(
            f"cannot forecast by {by!r}", expected=f"one of {sorted(DIMENSIONS)}", found=by
        )
    return DIMENSIONS[by]
