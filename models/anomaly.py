"""Spend anomalies: days whose spend jumps above its own recent baseline.

Daily spend per service, team and AI class (lines charged for longer than a day, such as
monthly fees, spread over their days) is compared with the median of the previous
`window_days` (a robust baseline: one earlier spike does not move it). A day is anomalous
when it is at least `z_threshold` robust deviations (MAD x 1.4826) above the median, and the
excess is at least `min_excess_usd` and `min_excess_ratio` of the baseline; consecutive
anomalous days of one series form one anomaly. Each anomaly names the resources that drove
it: their spend over the anomaly minus their own baseline, largest first.

Idle GPUs do not change the bill (an abandoned fleet bills as before), so `idle_costs`
turns `gpu_hours` into the same cost shape using `idle_cost`: run the detector on it to see
a fleet that went idle. Thresholds are settings ([anomaly] in finops.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import polars as pl

from models.errors import ConfigError, InputError, did_you_mean
from models.sections import parse_section

DIMENSIONS = {
    "service": "ServiceName",
    "team": "x_Team",
    "ai_class": "x_AiClass",
    "provider": "ProviderName",
}
_MAD_TO_SIGMA = 1.4826
_CENT = Decimal("0.01")


@dataclass(frozen=True)
class AnomalySettings:
    dimensions: tuple[str, ...] = ("service", "team", "ai_class")
    window_days: int = 28  # baseline: median of this many previous days
    min_history_days: int = 7  # no verdict before a series has this many days of baseline
    z_threshold: float = 4.0
    min_excess_usd: float = 100.0  # per day, above baseline
    min_excess_ratio: float = 0.5  # per day, as a share of the baseline
    top_resources: int = 5

    def __post_init__(self) -> None:
        for d in self.dimensions:
            if d not in DIMENSIONS:
                raise ConfigError(
                    f"unknown anomaly dimension {d!r}{did_you_mean(d, list(DIMENSIONS))}",
                    expected=f"some of {sorted(DIMENSIONS)}",
                    found=d,
                )
        checks = [
            ("window_days", self.window_days >= 2),
            ("min_history_days", 1 <= self.min_history_days <= self.window_days),
            ("z_threshold", self.z_threshold > 0),
            ("min_excess_usd", self.min_excess_usd >= 0),
            ("min_excess_ratio", self.min_excess_ratio >= 0),
            ("top_resources", self.top_resources >= 1),
        ]
        for name, ok in checks:
            if not ok:
                raise ConfigError(
                    f"[anomaly] {name} is out of range", found=repr(getattr(self, name))
                )

    @classmethod
    def from_dict(cls, d: Any, origin: str = "finops.toml") -> AnomalySettings:
        """`[anomaly]` parsed strictly (one already parsed is returned as it is)."""
        return parse_section(cls, d, "anomaly", origin)


def daily_spend(costs: pl.LazyFrame, dimension: str) -> pl.DataFrame:
    """Spend per (key, day), zero-filled over every day of the data; columns key, day, spend."""
    col = _column(dimension)
    daily = (
        _by_day(costs)
        .select("day", pl.col(col).fill_null("(none)").alias("key"), pl.col("cost").alias("spend"))
        .group_by("key", "day")
        .agg(pl.col("spend").sum())
        .collect()
    )
    if daily.height == 0:
        return daily
    days = pl.date_range(daily["day"].min(), daily["day"].max(), "1d", eager=True)
    grid = pl.DataFrame({"key": daily["key"].unique().sort()}).join(
        pl.DataFrame({"day": days}), how="cross"
    )
    return (
        grid.join(daily, on=["key", "day"], how="left")
        .with_columns(pl.col("spend").fill_null(0.0))
        .sort("key", "day")
    )


def detect_anomalies(
    costs: pl.LazyFrame,
    settings: AnomalySettings | None = None,
    measure: str = "spend",
    with_drivers: bool = True,
) -> pl.DataFrame:
    """Anomalies in daily spend, one row per run of anomalous days of one series.

    Columns: measure, dimension, key, start, end (dates, inclusive), days, spend, expected,
    excess (Decimal cents), peak_z, drivers (list of {resource_id, excess}, largest first;
    empty when `with_drivers` is false, e.g. over rollups without ResourceId).
    """
    s = settings or AnomalySettings()
    rows = []
    for dim in s.dimensions:
        daily = daily_spend(costs, dim)
        for (key,), part in daily.group_by("key", maintain_order=True):
            days = part["day"].to_list()
            for a, b, spend, expected, z in _runs(part["spend"].to_numpy(), s):
                drivers = _drivers(costs, dim, key, days[a], days[b], s) if with_drivers else []
                rows.append(
                    (
                        measure,
                        dim,
                        key,
                        days[a],
                        days[b],
                        b - a + 1,
                        _cents(spend),
                        _cents(expected),
                        _cents(spend - expected),
                        z,
                        drivers,
                    )
                )
    out = pl.DataFrame(rows, schema=_SCHEMA, orient="row")
    return out.sort(["excess", "dimension", "key"], descending=[True, False, False])


def idle_costs(gpu_hours: pl.LazyFrame) -> pl.LazyFrame:
    """gpu_hours as cost rows whose EffectiveCost is the idle cost (for `detect_anomalies`).

    Busy hours stay in with zero idle cost, so the days before a fleet went idle form the
    baseline it is compared with.
    """
    return gpu_hours.select(
        pl.col("hour").alias("ChargePeriodStart"),
        pl.col("provider").alias("ProviderName"),
        pl.lit("Idle GPU").alias("ServiceName"),
        pl.col("team").alias("x_Team"),
        pl.lit("idle_gpu").alias("x_AiClass"),
        pl.col("resource_id").alias("ResourceId"),
        pl.col("idle_cost").fill_null(0).alias("EffectiveCost"),
    )


_SCHEMA = {
    "measure": pl.String,
    "dimension": pl.String,
    "key": pl.String,
    "start": pl.Date,
    "end": pl.Date,
    "days": pl.Int64,
    "spend": pl.Decimal(38, 2),
    "expected": pl.Decimal(38, 2),
    "excess": pl.Decimal(38, 2),
    "peak_z": pl.Float64,
    "drivers": pl.List(pl.Struct({"resource_id": pl.String, "excess": pl.Decimal(38, 2)})),
}


def _runs(x: np.ndarray, s: AnomalySettings) -> list[tuple[int, int, float, float, float]]:
    """(first, last, spend, expected, peak z) for each run of anomalous days."""
    flagged: list[tuple[int, float, float]] = []
    medians, deviations = _baseline(x, s.window_days)
    for i in range(s.min_history_days, len(x)):
        med = float(medians[i])
        mad = float(deviations[i]) * _MAD_TO_SIGMA
        # A flat baseline has MAD 0: floor the scale so cents of noise are not "infinite z".
        scale = max(mad, 0.05 * abs(med), 1.0)
        excess = x[i] - med
        z = excess / scale
        if z >= s.z_threshold and excess >= s.min_excess_usd and excess >= s.min_excess_ratio * med:
            flagged.append((i, med, z))
    runs = []
    for i, med, z in flagged:
        if runs and runs[-1][1] == i - 1:
            a, _, spend, expected, peak = runs[-1]
            runs[-1] = (a, i, spend + x[i], expected + med, max(peak, z))
        else:
            runs.append((i, i, float(x[i]), med, z))
    return runs


def _baseline(x: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """For each day i, the median of the `window` days before it (fewer at the start) and
    their median absolute deviation from it (day 0 has none: NaN). The full windows are taken
    at once, as rows of one array: a year of a few dozen series is thousands of windows."""
    n = len(x)
    med, mad = np.full(n, np.nan), np.full(n, np.nan)
    for i in range(1, min(window, n - 1) + 1):  # the first days: shorter windows
        w = x[:i]
        med[i] = np.median(w)
        mad[i] = np.median(np.abs(w - med[i]))
    if n > window + 1 and window > 0:
        w = np.lib.stride_tricks.sliding_window_view(x[:-1], window)[1:]  # days window+1 ...
        med[window + 1 :] = np.median(w, axis=1)
        mad[window + 1 :] = np.median(np.abs(w - med[window + 1 :, None]), axis=1)
    return med, mad


def _drivers(
    costs: pl.LazyFrame, dim: str, key: str, start: date, end: date, s: AnomalySettings
) -> list[dict]:
    """Resources whose spend over [start, end] most exceeds their own daily baseline."""
    col = _column(dim)
    days = (end - start).days + 1
    base_start = date.fromordinal(start.toordinal() - s.window_days)
    per_res = (
        _by_day(costs.filter(pl.col(col).fill_null("(none)") == key))
        .filter((pl.col("day") >= base_start) & (pl.col("day") <= end))
        .select(
            pl.col("ResourceId").fill_null("(no resource id)").alias("resource_id"),
            "day",
            "cost",
        )
        .group_by("resource_id")
        .agg(
            pl.col("cost").filter(pl.col("day") >= start).sum().alias("during"),
            (pl.col("cost").filter(pl.col("day") < start).sum() / s.window_days).alias("per_day"),
        )
        .with_columns((pl.col("during") - pl.col("per_day") * days).alias("excess"))
        .filter(pl.col("excess") > 0)
        .sort(["excess", "resource_id"], descending=[True, False])
        .head(s.top_resources)
        .collect()
    )
    return [
        {"resource_id": r, "excess": _cents(e)}
        for r, e in zip(per_res["resource_id"], per_res["excess"], strict=True)
    ]


def _by_day(costs: pl.LazyFrame) -> pl.LazyFrame:
    """Each line's cost on the days it covers, as float `cost` with a `day` column.

    A line charged for a month (a subscription, a commitment fee) is spread evenly over its
    days when ChargePeriodEnd is present, so it is not read as a spike on the 1st.
    """
    start = pl.col("ChargePeriodStart").dt.date()
    cost = pl.col("EffectiveCost").cast(pl.Float64)
    if "ChargePeriodEnd" not in costs.collect_schema().names():
        return costs.with_columns(start.alias("day"), cost.alias("cost"))
    last = (pl.col("ChargePeriodEnd") - pl.duration(microseconds=1)).dt.date()
    days = ((last - start).dt.total_days() + 1).clip(lower_bound=1)
    lines = costs.with_columns(start.alias("day"), last.alias("_last"), days.alias("_days"))
    single = lines.filter(pl.col("_days") <= 1).with_columns(cost.alias("cost"))
    spread = (
        lines.filter(pl.col("_days") > 1)
        .with_columns(
            pl.date_ranges("day", "_last").alias("day"), (cost / pl.col("_days")).alias("cost")
        )
        .explode("day")
    )
    return pl.concat([single, spread], how="vertical_relaxed").drop("_last", "_days")


def _cents(x: float) -> Decimal:
    return Decimal(repr(float(x))).quantize(_CENT, rounding=ROUND_HALF_EVEN)


def _column(dimension: str) -> str:
    if dimension not in DIMENSIONS:
        raise InputError(
            f"unknown anomaly dimension {dimension!r}{did_you_mean(dimension, list(DIMENSIONS))}",
            expected=f"one of {sorted(DIMENSIONS)}",
            found=dimension,
        )
    return DIMENSIONS[dimension]
