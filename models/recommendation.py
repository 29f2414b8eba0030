"""The own-vs-rent recommendation: measured demand + the price book + the §A4 model.

`recommend` answers "should we buy GPUs or keep renting?" for one GPU model from `gpu_hours`:
measured u and u_r, every rent option against owning, the owned baseline that minimises
owned cost + on-demand burst over the last months' hourly demand, the annual saving, and
the assumptions each figure rests on. `to_dict` gives the plain form the CLI prints as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from models.demand import (
    DemandCurve,
    MeasuredUtilisation,
    demand_curve,
    measured_utilisation,
    trailing_window,
)
from models.errors import ConfigError, InputError, did_you_mean
from models.own_vs_rent import (
    HybridPlan,
    OptionCost,
    OwnedNode,
    TornadoBar,
    break_even_price,
    break_even_sensitivity,
    break_even_utilisation,
    check_price,
    compare_options,
    cost_per_useful_gpu_hour,
    fixed_cost,
    hybrid_sizing,
    marginal_energy,
    money,
    owned_node,
)
from models.price_book import PriceBook, RentOption, default_price_book
from models.sections import parse_section

HYPERSCALERS = ("AWS", "Microsoft", "Google Cloud")


@dataclass(frozen=True)
class OwnVsRentSettings:
    """[own_vs_rent] in finops.toml; `prices` overrides price book entries."""

    gpu: str = "H100"
    months: int = 12
    burst_option: str | None = None  # a rent option name; default: the measured cloud price
    prices: dict[str, Any] = field(default_factory=dict)

    def price_book(self) -> PriceBook:
        return default_price_book().with_overrides(
            self.prices, origin="finops.toml [own_vs_rent.prices]"
        )

    def __post_init__(self) -> None:
        if self.months < 1:
            raise ConfigError(
                "[own_vs_rent] months must be >= 1", expected="1 or more", found=repr(self.months)
            )
        book = self.price_book()  # check overrides when the file is read, not on a page
        models = book.gpu_models()
        if self.gpu.upper() not in {g.upper() for g in models}:
            raise ConfigError(
                f"[own_vs_rent] gpu {self.gpu!r} has no owned-node prices"
                f"{did_you_mean(self.gpu, models)}",
                expected=f"one of {models}",
                found=self.gpu,
            )

    @classmethod
    def from_dict(cls, d: Any, origin: str = "finops.toml") -> OwnVsRentSettings:
        """`[own_vs_rent]` parsed strictly (one already parsed is returned as it is)."""
        return parse_section(cls, d, "own_vs_rent", origin)


@dataclass(frozen=True)
class Recommendation:
    gpu: str
    node: OwnedNode
    measured: MeasuredUtilisation
    demand: DemandCurve
    u: float  # owned utilisation used for per-hour figures
    u_source: str  # "measured" | "planned baseline" | "assumed"
    u_r: float
    u_r_source: str  # "measured" | "assumed"
    burst_price: float
    burst_source: str
    options: list[OptionCost]
    plan: HybridPlan
    sensitivity: list[TornadoBar]
    book: PriceBook


def recommend(
    gpu_hours: pl.LazyFrame,
    book: PriceBook,
    gpu: str = "H100",
    months: int = 12,
    price_per_gpu_hour: float | None = None,
    burst_option: str | None = None,
    end: datetime | None = None,
) -> Recommendation:
    """Own vs rent for `gpu` over the `months` before `end` (default: after the last hour)."""
    owned_node(book, gpu)  # an unknown GPU is the first error, before any data is read
    window = trailing_window(gpu_hours, months, end)
    return recommend_measured(
        measured_utilisation(gpu_hours, window, gpu),
        demand_curve(gpu_hours, window, gpu),
        book,
        gpu=gpu,
        price_per_gpu_hour=price_per_gpu_hour,
        burst_option=burst_option,
    )


def recommend_measured(
    measured: MeasuredUtilisation,
    demand: DemandCurve,
    book: PriceBook,
    gpu: str = "H100",
    price_per_gpu_hour: float | None = None,
    burst_option: str | None = None,
) -> Recommendation:
    """`recommend` from measurements already taken (e.g. aggregated by a database): the
    model never needs the GPU-hours themselves, only u, u_r and the hourly demand curve."""
    node = owned_node(book, gpu)
    window = measured.window
    options = book.rent_options(gpu)
    if price_per_gpu_hour is not None:
        check_price(price_per_gpu_hour)
        options.append(
            RentOption(
                key=f"rent.{gpu}.given",
                value=float(price_per_gpu_hour),
                unit="USD/GPU-hour",
                source="--price-per-gpu-hour",
                as_of=window.end.date(),
                confidence="user",
                gpu=gpu,
                name="given",
                provider="(given)",
                sku="",
                region="",
                pricing_model="on_demand",
            )
        )
    if measured.u_r:
        u_r, u_r_source = measured.u_r, "measured"
    else:  # none monitored, or no rented hour did work: p/u_r would have no meaning
        u_r, u_r_source = 1.0, "assumed" if measured.u_r is None else "assumed (measured 0%)"
    burst_price, burst_source = _burst_price(
        measured, options, gpu, price_per_gpu_hour, burst_option
    )
    plan = hybrid_sizing(node, demand.values, burst_price, u_r)
    if measured.u:
        u, u_source = measured.u, "measured"
    elif plan.baseline_nodes:
        u, u_source = plan.owned_utilisation, "planned baseline"
    else:
        u, u_source = 1.0, "assumed"
    if measured.u == 0:
        u_source += " (measured 0%)"
    return Recommendation(
        gpu=gpu,
        node=node,
        measured=measured,
        demand=demand,
        u=u,
        u_source=u_source,
        u_r=u_r,
        u_r_source=u_r_source,
        burst_price=burst_price,
        burst_source=burst_source,
        options=compare_options(node, options, u, u_r),
        plan=plan,
        sensitivity=break_even_sensitivity(node, burst_price, u_r),
        book=book,
    )


def _burst_price(measured, options, gpu, explicit, option_name) -> tuple[float, str]:
    if explicit is not None:
        return float(explicit), "--price-per-gpu-hour"
    if option_name:
        by_name = {o.name: o for o in options}
        if option_name not in by_name:
            raise ConfigError(
                f"no rent option {option_name!r} for {gpu}{did_you_mean(option_name, by_name)}",
                expected=f"one of {sorted(by_name)}",
                found=option_name,
            )
        return by_name[option_name].value, f"price book {by_name[option_name].key}"
    measured_price = measured.cloud_cost_per_gpu_hour
    if measured_price and measured_price > 0:
        return float(measured_price), "measured: cloud cost per paid GPU-hour"
    on_demand = [
        o for o in options if o.pricing_model == "on_demand" and o.provider in HYPERSCALERS
    ]
    if not on_demand:
        raise InputError(
            f"no on-demand price for {gpu} and no measured cloud price",
            hint="pass --price-per-gpu-hour or add a rent option to the price book",
        )
    return on_demand[0].value, f"price book {on_demand[0].key} (cheapest hyperscaler on-demand)"


def to_dict(r: Recommendation) -> dict[str, Any]:
    """Plain data (Decimal money, floats for ratios, None for 'never') for JSON and pages."""
    m, d, plan = r.measured, r.demand, r.plan
    n = r.node
    return {
        "gpu": r.gpu,
        "window": {
            "start": m.window.start.isoformat(),
            "end": m.window.end.isoformat(),
            "hours": m.window.hours,
        },
        "measured": {
            "u": m.u,
            "u_r": m.u_r,
            "owned_monitored_gpu_hours": m.owned_monitored_hours,
            "owned_useful_gpu_hours": m.owned_useful_hours,
            "cloud_monitored_gpu_hours": m.cloud_monitored_hours,
            "cloud_useful_gpu_hours": m.cloud_useful_hours,
            "unmonitored_gpu_hours": m.unmonitored_hours,
            "unmonitored_share": m.unmonitored_share,
            "cloud_cost": money(m.cloud_cost),
            "cloud_priced_gpu_hours": m.cloud_priced_hours,
            "cloud_paid_gpu_hours": m.cloud_monitored_hours + m.cloud_unmonitored_hours,
            "cloud_unpriced_gpu_hours": m.cloud_unpriced_hours,
            "cloud_cost_per_gpu_hour": (
                None if m.cloud_cost_per_gpu_hour is None else money(m.cloud_cost_per_gpu_hour)
            ),
            "owned_gpus": m.owned_gpus,
        },
        "demand": {
            "hours": d.hourly.height,
            "gpu_hours": d.measured_gpu_hours + d.estimated_gpu_hours,
            "measured_gpu_hours": d.measured_gpu_hours,
            "estimated_from_billing_gpu_hours": d.estimated_gpu_hours,
            "estimated_from_billing_share": d.estimated_share,
            "peak_gpus": int(np.max(d.values)),
            "mean_gpus": float(np.mean(d.values)),
        },
        "owned": {
            "gpus_per_node": n.gpus,
            "fixed_cost_per_node_year": money(fixed_cost(n)),
            "marginal_energy_per_gpu_hour": marginal_energy(n),
            "u": r.u,
            "u_source": r.u_source,
            "cost_per_useful_gpu_hour": money(cost_per_useful_gpu_hour(n, r.u)),
            # the pay-as-you-go rent per GPU-hour below which renting wins at this u and u_r
            "break_even_rent_per_gpu_hour": money(break_even_price(n, r.u, r.u_r)),
        },
        "rent_useful_fraction": {"u_r": r.u_r, "source": r.u_r_source},
        "options": [
            {
                "key": o.option.key,
                "provider": o.option.provider,
                "sku": o.option.sku,
                "region": o.option.region,
                "pricing_model": o.option.pricing_model,
                "committed": o.option.committed,
                "price_per_gpu_hour": o.option.value,
                "cost_per_useful_gpu_hour": money(o.cost_per_useful_gpu_hour),
                "break_even_utilisation": _finite(o.break_even_utilisation),
                "annual_cost_per_node": o.annual_cost,
                "as_of": o.option.as_of.isoformat(),
                "confidence": o.option.confidence,
                "source": o.option.source,
            }
            for o in r.options
        ],
        "recommendation": {
            "owned_baseline_nodes": plan.baseline_nodes,
            "owned_baseline_gpus": plan.baseline_nodes * plan.gpus_per_node,
            "burst_price_per_gpu_hour": r.burst_price,
            "burst_price_source": r.burst_source,
            "owned_useful_gpu_hours": plan.owned_useful_gpu_hours,
            "burst_useful_gpu_hours": plan.burst_useful_gpu_hours,
            "owned_utilisation": plan.owned_utilisation,
            "annual_cost": plan.annual_cost,
            "all_rent_annual_cost": plan.all_rent_annual_cost,
            "all_own_nodes": plan.all_own_nodes,
            "all_own_annual_cost": plan.all_own_annual_cost,
            "annual_saving": plan.annual_saving,
            "break_even_utilisation": _finite(break_even_utilisation(n, r.burst_price, r.u_r)),
        },
        "sensitivity": [
            {
                "parameter": b.parameter,
                "base": b.base,
                "low": b.low,
                "high": b.high,
                "u_star_low": _finite(b.u_star_low),
                "u_star_high": _finite(b.u_star_high),
            }
            for b in r.sensitivity
        ],
        "assumptions": {
            e.key: {
                "value": e.value,
                "unit": e.unit,
                "source": e.source,
                "as_of": e.as_of.isoformat(),
                "confidence": e.confidence,
            }
            for e in r.book.entries.values()
            if not e.key.startswith(("rent.", "node.")) or e.key.startswith(f"node.{_node_key(r)}.")
        },
    }


def _node_key(r: Recommendation) -> str:
    return next(g for g in r.book.gpu_models() if g.upper() == r.gpu.upper())


def _finite(x: float | None) -> float | None:
    """u* above 1 or infinite means owning never pays back: shown as None ("never")."""
    if x is None or math.isinf(x) or x > 1:
        return None
    return x
