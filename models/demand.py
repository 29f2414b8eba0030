"""Measured own-vs-rent inputs from `gpu_hours`: u, u_r and the hourly demand curve.

`gpu_hours` has one row per paid GPU-hour with a `state` (active, underutilised,
allocated_idle, hard_idle, unmonitored). A GPU-hour is useful when it is active or
underutilised: it did work that would otherwise be rented.

- u   = useful share of monitored owned (on-prem) GPU-hours
- u_r = useful share of monitored cloud GPU-hours (idle rented hours still bill)

Unmonitored hours are in neither share; they are counted and reported. The demand curve is
useful GPUs per hour, plus unmonitored paid cloud GPUs, which are demand "estimated from
billing alone" (the bill says the GPU was paid for, no telemetry says what it did).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import polars as pl

from models.errors import InputError
from models.idle import UNMONITORED as _UNMONITORED
from models.idle import USEFUL_STATES
from models.price_book import CURRENCY


@dataclass(frozen=True)
class Window:
    start: datetime  # inclusive, start of an hour (UTC)
    end: datetime  # exclusive

    @property
    def hours(self) -> int:
        return int((self.end - self.start) / timedelta(hours=1))


def trailing_window(gpu_hours: pl.LazyFrame, months: int, end: datetime | None = None) -> Window:
    """The `months` months ending after the last hour in the data (or at `end`)."""
    if not isinstance(months, int) or isinstance(months, bool) or months < 1:
        raise InputError("months must be a whole number >= 1", found=repr(months))
    if end is None:
        last = gpu_hours.select(pl.col("hour").max()).collect().item()
        if last is None:
            raise InputError(
                "gpu_hours has no rows",
                hint="ingest billing (and ideally telemetry) for GPU instances first",
            )
        end = last + timedelta(hours=1)
    # One notion of UTC (a DuckDB session may say Etc/UTC; polars compares zones by name).
    end = end.replace(tzinfo=UTC) if end.tzinfo is None else end.astimezone(UTC)
    frame = pl.DataFrame({"end": [end]}).with_columns(pl.col("end").dt.truncate("1h").alias("end"))
    frame = frame.with_columns(pl.col("end").dt.offset_by(f"-{months}mo").alias("start"))
    return Window(frame["start"][0], frame["end"][0])


@dataclass(frozen=True)
class MeasuredUtilisation:
    gpu_model: str | None
    window: Window
    owned_monitored_hours: int
    owned_useful_hours: int
    owned_unmonitored_hours: int
    cloud_monitored_hours: int
    cloud_useful_hours: int
    cloud_unmonitored_hours: int
    cloud_cost: Decimal  # what the paid cloud GPU-hours billed in the price book's currency cost
    owned_gpus: int  # distinct owned GPUs seen in the window
    cloud_priced_hours: int  # paid cloud GPU-hours billed in the price book's currency

    @property
    def u(self) -> float | None:
        h = self.owned_monitored_hours
        return self.owned_useful_hours / h if h else None

    @property
    def u_r(self) -> float | None:
        h = self.cloud_monitored_hours
        return self.cloud_useful_hours / h if h else None

    @property
    def unmonitored_hours(self) -> int:
        return self.owned_unmonitored_hours + self.cloud_unmonitored_hours

    @property
    def unmonitored_share(self) -> float:
        total = self.owned_monitored_hours + self.cloud_monitored_hours + self.unmonitored_hours
        return self.unmonitored_hours / total if total else 0.0

    @property
    def cloud_unpriced_hours(self) -> int:
        """Paid cloud GPU-hours billed in another currency than the price book's."""
        return self.cloud_monitored_hours + self.cloud_unmonitored_hours - self.cloud_priced_hours

    @property
    def cloud_cost_per_gpu_hour(self) -> Decimal | None:
        """Measured effective rent per paid cloud GPU-hour (commitments amortised), over the
        hours billed in the price book's currency: another currency's cost is no price here."""
        paid = self.cloud_priced_hours
        return self.cloud_cost / paid if paid else None


def measured_utilisation(
    gpu_hours: pl.LazyFrame, window: Window, gpu_model: str | None = None
) -> MeasuredUtilisation:
    """u and u_r over `window` (optionally for one GPU model, case-insensitive)."""
    lf = _select(gpu_hours, window, gpu_model)
    owned = pl.col("deployment") == "onprem"
    cloud = pl.col("deployment") == "cloud"
    unmon = pl.col("state") == _UNMONITORED
    useful = pl.col("state").is_in(USEFUL_STATES)
    priced = cloud & (pl.col("currency") == CURRENCY)
    gpu_id = pl.coalesce(
        pl.col("gpu_uuid"),
        pl.concat_str(
            [pl.col("resource_id"), pl.col("gpu_index").cast(pl.String)],
            separator="#",
            ignore_nulls=True,
        ),
    )
    row = lf.select(
        (owned & ~unmon).sum().alias("owned_monitored_hours"),
        (owned & useful).sum().alias("owned_useful_hours"),
        (owned & unmon).sum().alias("owned_unmonitored_hours"),
        (cloud & ~unmon).sum().alias("cloud_monitored_hours"),
        (cloud & useful).sum().alias("cloud_useful_hours"),
        (cloud & unmon).sum().alias("cloud_unmonitored_hours"),
        pl.col("cost").filter(priced).sum().alias("cloud_cost"),
        priced.sum().alias("cloud_priced_hours"),
        gpu_id.filter(owned).n_unique().alias("owned_gpus"),
    ).collect()
    r = row.row(0, named=True)
    cost = r.pop("cloud_cost")
    return MeasuredUtilisation(
        gpu_model=gpu_model,
        window=window,
        cloud_cost=Decimal(str(cost)) if cost is not None else Decimal(0),
        **{k: int(v or 0) for k, v in r.items()},
    )


@dataclass(frozen=True)
class DemandCurve:
    gpu_model: str | None
    window: Window
    hourly: pl.DataFrame  # hour, measured_gpus, estimated_gpus, demand_gpus (every hour)

    @property
    def values(self) -> np.ndarray:
        return self.hourly["demand_gpus"].to_numpy().astype(float)

    @property
    def measured_gpu_hours(self) -> int:
        return int(self.hourly["measured_gpus"].sum())

    @property
    def estimated_gpu_hours(self) -> int:
        return int(self.hourly["estimated_gpus"].sum())

    @property
    def estimated_share(self) -> float:
        """Share of demand known from billing alone (unmonitored paid cloud hours)."""
        total = self.measured_gpu_hours + self.estimated_gpu_hours
        return self.estimated_gpu_hours / total if total else 0.0


def demand_curve(
    gpu_hours: pl.LazyFrame, window: Window, gpu_model: str | None = None
) -> DemandCurve:
    """GPUs in use for every hour of `window`; hours with no rows count as zero demand."""
    lf = _select(gpu_hours, window, gpu_model)
    per_hour = lf.group_by("hour").agg(
        pl.col("state").is_in(USEFUL_STATES).sum().alias("measured_gpus"),
        ((pl.col("state") == _UNMONITORED) & (pl.col("deployment") == "cloud"))
        .sum()
        .alias("estimated_gpus"),
    )
    return demand_from_hours(per_hour, window, gpu_model)


def demand_from_hours(
    per_hour: pl.LazyFrame | pl.DataFrame, window: Window, gpu_model: str | None = None
) -> DemandCurve:
    """The demand curve from GPU counts already summed per hour (hour, measured_gpus,
    estimated_gpus: useful GPUs and unmonitored paid cloud GPUs), e.g. by a database.

    Only hours inside `window` count; missing hours are zero demand, as in `demand_curve`.
    """
    per_hour = per_hour.lazy()
    zone = getattr(per_hour.collect_schema()["hour"], "time_zone", None)
    hour = pl.col("hour")
    # One notion of UTC (a database session may say Etc/UTC; polars compares zones by name).
    hour = hour.dt.replace_time_zone("UTC") if zone is None else hour.dt.convert_time_zone("UTC")
    per_hour = per_hour.select(hour.dt.cast_time_unit("us"), "measured_gpus", "estimated_gpus")
    hours = pl.LazyFrame(
        {
            "hour": pl.datetime_range(
                window.start, window.end, "1h", closed="left", time_unit="us", eager=True
            )
        }
    )
    hourly = (
        hours.join(per_hour, on="hour", how="left")
        .with_columns(pl.col("measured_gpus", "estimated_gpus").fill_null(0).cast(pl.Int64))
        .with_columns((pl.col("measured_gpus") + pl.col("estimated_gpus")).alias("demand_gpus"))
        .sort("hour")
        .collect()
    )
    if hourly.height == 0 or int(hourly["demand_gpus"].sum()) == 0:
        raise InputError(
            "the demand curve is empty: no GPU-hours in use"
            + (f" for GPU {gpu_model!r}" if gpu_model else "")
            + f" between {window.start:%Y-%m-%d} and {window.end:%Y-%m-%d}",
            hint="choose another --gpu or a longer --months, or ingest GPU billing first",
        )
    return DemandCurve(gpu_model, window, hourly)


def _select(gpu_hours: pl.LazyFrame, window: Window, gpu_model: str | None) -> pl.LazyFrame:
    lf = gpu_hours.filter((pl.col("hour") >= window.start) & (pl.col("hour") < window.end))
    if gpu_model:
        lf = lf.filter(pl.col("gpu_model").str.to_uppercase().str.contains(gpu_pattern(gpu_model)))
    return lf


def gpu_pattern(gpu_model: str) -> str:
    """A regex for one GPU model as a whole word of an upper-cased name.

    "A100" matches "A100", "A100-80" and "NVIDIA A100-SXM4-40GB" but not "A1000"; "A10"
    does not match "A100".
    """
    return f"(^|[^0-9A-Z]){re.escape(gpu_model.upper())}($|[^0-9A-Z])"
