"""Own vs rent for GPU servers: the model of gpu_economics.md §A4.

Per node of N GPUs:

    A      = C(1-ρ)/L                                straight line, or with cost of capital r:
    A      = C·CRF(r, L) - C·ρ·r/((1+r)^L - 1),      CRF = r(1+r)^L / ((1+r)^L - 1)
    F      = A + 12·k·P_prov + O + P_idle·PUE·8760·e   fixed cost per year, used or not
    m      = (P_load - P_idle)·PUE·e / N               marginal energy per useful GPU-hour
    c_own  = F/(N·8760·u) + m                           owned cost per useful GPU-hour
    c_rent = p/u_r                                      rented, where idle rented hours still bill
    u*     = F/(N·8760·(p/u_r - m))                     own if measured u > u*

Committed rent (RI, Savings Plan, CUD, a contract) bills whether used or not, so it is
compared with owning by annual cost, not by utilisation. The hybrid plan owns B nodes for
the baseline and bursts the rest of the measured hourly demand on demand.

Floats are used for rates and ratios; annual totals and savings are Decimal cents.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields, replace
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np

from models.errors import InputError
from models.price_book import PriceBook, RentOption

HOURS_PER_YEAR = 8760
_CENT = Decimal("0.01")


def money(x: float | Decimal) -> Decimal:
    """A total in dollars, rounded half-even to the cent."""
    d = x if isinstance(x, Decimal) else Decimal(repr(float(x)))
    return d.quantize(_CENT, rounding=ROUND_HALF_EVEN)


@dataclass(frozen=True)
class OwnedNode:
    """One owned server and what it costs to keep (units as in the price book)."""

    gpus: int
    capex: float  # server + fabric share (+ storage, install), USD
    life_years: float
    residual_frac: float
    colo_usd_per_kw_month: float
    provisioned_kw: float
    idle_kw: float
    load_kw: float
    pue: float
    usd_per_kwh: float
    ops_usd_per_year: float
    wacc: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise InputError(f"{f.name} must be a finite number", found=repr(v))
            if v < 0:
                raise InputError(f"{f.name} must not be negative", expected=">= 0", found=repr(v))
        checks = [
            ("gpus", float(self.gpus).is_integer() and self.gpus >= 1, "a whole number >= 1"),
            ("life_years", self.life_years > 0, "a life greater than 0 years"),
            ("residual_frac", self.residual_frac < 1, "a fraction below 1"),
            ("wacc", self.wacc < 1, "a rate below 1, e.g. 0.08"),
            ("pue", self.pue >= 1, "a PUE of at least 1.0"),
            ("load_kw", self.load_kw >= self.idle_kw, f"at least idle_kw ({self.idle_kw})"),
        ]
        for name, ok, expected in checks:
            if not ok:
                raise InputError(
                    f"{name} is out of range", expected=expected, found=repr(getattr(self, name))
                )


def owned_node(book: PriceBook, gpu: str) -> OwnedNode:
    """The owned-node inputs for `gpu` from a price book."""
    models = book.gpu_models()
    match = next((g for g in models if g.upper() == gpu.upper()), None)
    if match is None:
        raise InputError(
            f"no owned-node prices for GPU {gpu!r}",
            expected=f"one of {models}",
            found=gpu,
            hint="add node.<GPU>.* entries to the price book",
        )
    n = f"node.{match}."
    return OwnedNode(
        gpus=int(book.value(n + "gpus_per_node")),
        capex=book.value(n + "server_capex") + book.value(n + "fabric_capex"),
        life_years=book.value("finance.life_years"),
        residual_frac=book.value("finance.residual_frac"),
        wacc=book.value("finance.wacc"),
        colo_usd_per_kw_month=book.value("facility.colo_usd_per_kw_month"),
        provisioned_kw=book.value(n + "provisioned_kw"),
        idle_kw=book.value(n + "idle_kw"),
        load_kw=book.value(n + "load_kw"),
        pue=book.value("facility.pue"),
        usd_per_kwh=book.value("facility.usd_per_kwh"),
        ops_usd_per_year=book.value("ops.usd_per_node_year"),
    )


def annualised_capex(node: OwnedNode) -> float:
    c, rho, life, r = node.capex, node.residual_frac, node.life_years, node.wacc
    if r == 0:
        return c * (1 - rho) / life
    growth = (1 + r) ** life
    crf = r * growth / (growth - 1)
    return c * crf - c * rho * r / (growth - 1)


def fixed_cost(node: OwnedNode) -> float:
    """F: dollars per year paid whether or not the GPUs run."""
    colo = 12 * node.colo_usd_per_kw_month * node.provisioned_kw
    idle_power = node.idle_kw * node.pue * HOURS_PER_YEAR * node.usd_per_kwh
    return annualised_capex(node) + colo + node.ops_usd_per_year + idle_power


def marginal_energy(node: OwnedNode) -> float:
    """m: extra energy cost per useful GPU-hour over idle."""
    return (node.load_kw - node.idle_kw) * node.pue * node.usd_per_kwh / node.gpus


def cost_per_useful_gpu_hour(node: OwnedNode, u: float) -> float:
    _check_fraction("u (utilisation)", u)
    return fixed_cost(node) / (node.gpus * HOURS_PER_YEAR * u) + marginal_energy(node)


def rented_cost_per_useful_gpu_hour(price: float, u_r: float = 1.0) -> float:
    check_price(price)
    _check_fraction("u_r (useful share of rented hours)", u_r)
    return price / u_r


def break_even_utilisation(node: OwnedNode, price: float, u_r: float = 1.0) -> float:
    """u*: owning is cheaper per useful GPU-hour above it; inf when renting always wins."""
    margin = rented_cost_per_useful_gpu_hour(price, u_r) - marginal_energy(node)
    if margin <= 0:
        return math.inf
    return fixed_cost(node) / (node.gpus * HOURS_PER_YEAR * margin)


def break_even_price(node: OwnedNode, u: float, u_r: float = 1.0) -> float:
    """p*(u): the rent per GPU-hour at which owning at utilisation u breaks even."""
    _check_fraction("u_r (useful share of rented hours)", u_r)
    return u_r * cost_per_useful_gpu_hour(node, u)


def annual_cost_owned(node: OwnedNode, u: float) -> Decimal:
    """One node for a year at utilisation u: F + m·N·8760·u."""
    _check_fraction("u (utilisation)", u, allow_zero=True)
    return money(fixed_cost(node) + marginal_energy(node) * node.gpus * HOURS_PER_YEAR * u)


def annual_cost_committed(price: float, gpus: int) -> Decimal:
    """A commitment covering `gpus` GPUs for a year, billed whether used or not."""
    check_price(price)
    return money(Decimal(repr(float(price))) * gpus * HOURS_PER_YEAR)


@dataclass(frozen=True)
class OptionCost:
    """One rent option set against the owned node, per node-equivalent of capacity."""

    option: RentOption
    cost_per_useful_gpu_hour: float
    annual_cost: Decimal  # for the useful hours the owned node delivers (all hours if committed)
    break_even_utilisation: float | None  # None for committed options


def compare_options(
    node: OwnedNode, options: Iterable[RentOption], u: float, u_r: float = 1.0
) -> list[OptionCost]:
    """Each option against owning: pay-as-you-go by u*, committed by annual cost."""
    _check_fraction("u (utilisation)", u)
    useful_hours = node.gpus * HOURS_PER_YEAR * u
    out = []
    for opt in options:
        if opt.committed:
            # Committed capacity is used like owned capacity: same u, paid every hour.
            out.append(
                OptionCost(opt, opt.value / u, annual_cost_committed(opt.value, node.gpus), None)
            )
        else:
            per_useful = rented_cost_per_useful_gpu_hour(opt.value, u_r)
            out.append(
                OptionCost(
                    opt,
                    per_useful,
                    money(per_useful * useful_hours),
                    break_even_utilisation(node, opt.value, u_r),
                )
            )
    return out


@dataclass(frozen=True)
class HybridPlan:
    """Own `baseline_nodes` for the baseline; rent the demand above it on demand."""

    baseline_nodes: int
    gpus_per_node: int
    hours: int  # length of the demand curve
    burst_price: float
    rent_useful_fraction: float
    demand_gpu_hours: float
    owned_useful_gpu_hours: float
    burst_useful_gpu_hours: float
    annual_cost: Decimal
    all_rent_annual_cost: Decimal
    all_own_nodes: int
    all_own_annual_cost: Decimal
    annual_saving: Decimal  # against renting everything on demand
    annual_cost_by_nodes: tuple[Decimal, ...]  # index = owned nodes, for a cost curve

    @property
    def owned_utilisation(self) -> float:
        capacity = self.baseline_nodes * self.gpus_per_node * self.hours
        return self.owned_useful_gpu_hours / capacity if capacity else 0.0


def hybrid_sizing(
    node: OwnedNode,
    demand: Sequence[float] | np.ndarray,
    burst_price: float,
    rent_useful_fraction: float = 1.0,
) -> HybridPlan:
    """The owned baseline B (nodes) minimising owned cost + burst over an hourly demand curve.

    `demand` is useful GPUs per hour. Annual cost of B nodes, annualised from the curve:
    F·B + (m·Σmin(D_t, B·N) + (p/u_r)·Σmax(0, D_t - B·N))·8760/H. Every B from 0 (all rent)
    to enough nodes for the peak (all own) is evaluated, so the plan never costs more than
    either extreme.
    """
    d = _check_demand(demand)
    check_price(burst_price)
    _check_fraction("u_r (useful share of rented hours)", rent_useful_fraction)
    n, hours = node.gpus, len(d)
    total = float(d.sum())
    all_own = math.ceil(float(d.max()) / n) if total > 0 else 0
    sorted_d = np.sort(d)
    prefix = np.concatenate([[0.0], np.cumsum(sorted_d)])
    f_dec = Decimal(repr(fixed_cost(node)))
    m_dec = Decimal(repr(marginal_energy(node)))
    rent_dec = Decimal(repr(float(burst_price))) / Decimal(repr(float(rent_useful_fraction)))
    scale = Decimal(HOURS_PER_YEAR) / Decimal(hours)
    costs, owned_hours = [], []
    for b in range(all_own + 1):
        cap = b * n
        below = int(np.searchsorted(sorted_d, cap, side="right"))
        owned = float(prefix[below]) + cap * (hours - below)  # Σ min(D_t, cap)
        burst = max(total - owned, 0.0)
        var = m_dec * Decimal(repr(owned)) + rent_dec * Decimal(repr(burst))
        costs.append(money(f_dec * b + var * scale))
        owned_hours.append(owned)
    best = min(range(len(costs)), key=lambda b: (costs[b], b))
    return HybridPlan(
        baseline_nodes=best,
        gpus_per_node=n,
        hours=hours,
        burst_price=float(burst_price),
        rent_useful_fraction=float(rent_useful_fraction),
        demand_gpu_hours=total,
        owned_useful_gpu_hours=owned_hours[best],
        burst_useful_gpu_hours=max(total - owned_hours[best], 0.0),
        annual_cost=costs[best],
        all_rent_annual_cost=costs[0],
        all_own_nodes=all_own,
        all_own_annual_cost=costs[all_own],
        annual_saving=costs[0] - costs[best],
        annual_cost_by_nodes=tuple(costs),
    )


@dataclass(frozen=True)
class TornadoBar:
    """u* when one input moves to its low and its high value, the others at base."""

    parameter: str
    base: float
    low: float
    high: float
    u_star_low: float
    u_star_high: float

    @property
    def swing(self) -> float:
        lo, hi = self.u_star_low, self.u_star_high
        if math.isinf(lo) or math.isinf(hi):
            return math.inf
        return abs(hi - lo)


def break_even_sensitivity(
    node: OwnedNode, price: float, u_r: float = 1.0, spread: float = 0.25
) -> list[TornadoBar]:
    """Tornado data for u*: each input low/high (±spread, or the §A5 ranges), widest first."""
    node_ranges = {
        "capex": _rel(node.capex, spread),
        "life_years": (max(1.0, node.life_years - 2), node.life_years + 1),
        "residual_frac": (
            max(0.0, node.residual_frac - 0.10),
            min(0.95, node.residual_frac + 0.15),
        ),
        "wacc": (max(0.0, node.wacc - 0.05), min(0.95, node.wacc + 0.10)),
        "colo_usd_per_kw_month": _rel(node.colo_usd_per_kw_month, spread),
        "provisioned_kw": _rel(node.provisioned_kw, spread),
        "idle_kw": (node.idle_kw * (1 - spread), min(node.load_kw, node.idle_kw * (1 + spread))),
        "load_kw": (max(node.idle_kw, node.load_kw * (1 - spread)), node.load_kw * (1 + spread)),
        "pue": (max(1.0, node.pue - 0.3), node.pue + 0.2),
        "usd_per_kwh": _rel(node.usd_per_kwh, spread),
        "ops_usd_per_year": _rel(node.ops_usd_per_year, spread),
    }
    bars = []
    for name, (lo, hi) in node_ranges.items():
        base = getattr(node, name)
        bars.append(
            TornadoBar(
                name,
                base,
                lo,
                hi,
                break_even_utilisation(replace(node, **{name: lo}), price, u_r),
                break_even_utilisation(replace(node, **{name: hi}), price, u_r),
            )
        )
    p_lo, p_hi = _rel(price, spread)
    bars.append(
        TornadoBar(
            "rent_price",
            price,
            p_lo,
            p_hi,
            break_even_utilisation(node, p_lo, u_r),
            break_even_utilisation(node, p_hi, u_r),
        )
    )
    r_lo = max(0.05, u_r - 0.3)
    bars.append(
        TornadoBar(
            "rent_useful_fraction",
            u_r,
            r_lo,
            1.0,
            break_even_utilisation(node, price, r_lo),
            break_even_utilisation(node, price, 1.0),
        )
    )
    return sorted(bars, key=lambda b: (-b.swing, b.parameter))


def _rel(v: float, spread: float) -> tuple[float, float]:
    return v * (1 - spread), v * (1 + spread)


def check_price(price: float) -> None:
    if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price):
        raise InputError("a rent price must be a finite number", found=repr(price))
    if price < 0:
        raise InputError(
            "a rent price must not be negative", expected="USD per GPU-hour >= 0", found=repr(price)
        )


def _check_fraction(name: str, v: float, allow_zero: bool = False) -> None:
    ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    if not ok or v > 1 or v < 0 or (v == 0 and not allow_zero):
        raise InputError(
            f"{name} must be a fraction of hours",
            expected="0 <= value <= 1" if allow_zero else "0 < value <= 1",
            found=repr(v),
        )


def _check_demand(demand: Sequence[float] | np.ndarray) -> np.ndarray:
    d = np.asarray(demand, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise InputError(
            "the demand curve is empty",
            expected="GPUs in use for each hour of the period",
            hint="check that gpu_hours has rows for this GPU model in the window",
        )
    if not np.all(np.isfinite(d)) or (d < 0).any():
        raise InputError("the demand curve has negative or missing values", expected=">= 0")
    return d
