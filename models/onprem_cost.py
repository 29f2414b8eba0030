"""The daily cost of an owned GPU server: gpu_economics.md §A4, split into days.

Per server of N GPUs, in the inventory's currency, Decimal throughout:

    A        = C(1-ρ)/L                                   straight line (default), or with WACC r
    A        = C·CRF(r, L) - C·ρ·r/((1+r)^L - 1),         CRF = r(1+r)^L / ((1+r)^L - 1)
    per day  = (A + 12·k·P_prov + O)·24/8760 + P_idle·PUE·e·24 + energy above idle
    energy above idle (kWh) = (P_load - P_idle)/N · Σ over the day's GPU-hours of a load fraction

The load fraction of a GPU-hour is measured GPU power over the model's board power (TDP) when
telemetry has it, else 1 — the load estimate: a GPU-hour with no measurement is charged as a
GPU at full load, so missing telemetry never makes a server look cheaper. Capital is charged
only during the economic life (from the purchase date for L years); colo, ops and idle power
for every day in service (purchase date inclusive, retirement date exclusive). A year is 8760
hours, as in §A4. Each part of a day is rounded half-even to 12 decimals, and a day's cost is
the sum of its parts, so lines and the period total add up exactly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

HOURS_PER_YEAR = Decimal(8760)
Q12 = Decimal("1E-12")
PARTS = ("capex", "colo", "ops", "idle_power", "energy_above_idle")

# Board power (W) of GPU models we recognise, matched in order on the normalised model name
# (NVIDIA datasheets; SXM figures where a model has several form factors).
GPU_CATALOGUE: tuple[tuple[str, str, int], ...] = (
    (r"GB200|B200", "B200", 1000),
    (r"H200", "H200", 700),
    (r"H100.*(PCIE)", "H100-PCIe", 350),
    (r"H100.*NVL", "H100-NVL", 400),
    (r"H100", "H100", 700),
    (r"A100.*PCIE", "A100-PCIe", 300),
    (r"A100", "A100", 400),
    (r"L40S", "L40S", 350),
    (r"L40", "L40", 300),
    (r"L4\b|L4$", "L4", 72),
    (r"A10G", "A10G", 300),
    (r"A10\b|A10$", "A10", 150),
    (r"A40", "A40", 300),
    (r"A30", "A30", 165),
    (r"V100", "V100", 300),
    (r"T4\b|T4$", "T4", 70),
    (r"RTX 6000 ADA|RTX6000ADA", "RTX-6000-Ada", 300),
    (r"MI300X", "MI300X", 750),
    (r"MI250X?", "MI250", 560),
)


def gpu_family(model: str) -> tuple[str, int] | None:
    """(family, board watts) of a GPU model name, or None when it is not in the catalogue."""
    text = model.upper().replace("_", " ")
    for pattern, family, watts in GPU_CATALOGUE:
        if re.search(pattern, text):
            return family, watts
    return None


@dataclass(frozen=True)
class Server:
    """One inventory row's cost inputs (validated by the reader)."""

    asset_id: str
    gpus: int
    purchase_date: date
    server_capex: Decimal
    network_capex: Decimal
    life_years: Decimal
    residual_fraction: Decimal
    power_idle_kw: Decimal
    power_load_kw: Decimal
    provisioned_kw: Decimal
    pue: Decimal
    usd_per_kwh: Decimal
    colo_usd_per_kw_month: Decimal
    ops_usd_per_year: Decimal
    retired_date: date | None = None
    wacc: Decimal | None = None

    @property
    def capex(self) -> Decimal:
        return self.server_capex + self.network_capex

    @property
    def method(self) -> str:
        return "straight_line" if not self.wacc else "cost_of_capital"

    def life_end(self) -> date:
        """First day after the economic life (capital is no longer charged from here)."""
        whole = int(self.life_years)
        end = _add_years(self.purchase_date, whole)
        rest = self.life_years - whole
        return end + timedelta(days=int((rest * 365).to_integral_value(ROUND_HALF_EVEN)))

    def in_service(self, day: date) -> bool:
        return day >= self.purchase_date and (self.retired_date is None or day < self.retired_date)


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February
        return d.replace(year=d.year + years, day=28)


def annual_capital(s: Server) -> Decimal:
    """A: straight line C(1-ρ)/L, or the annuity with cost of capital when wacc is given."""
    c, rho, life = s.capex, s.residual_fraction, s.life_years
    if not s.wacc:
        return c * (1 - rho) / life
    r = s.wacc
    growth = (1 + r) ** int(life) if life == int(life) else Decimal(float(1 + r) ** float(life))
    crf = r * growth / (growth - 1)
    return c * crf - c * rho * r / (growth - 1)


def annual_fixed(s: Server) -> Decimal:
    """F = A + 12·k·P_prov + O + P_idle·PUE·8760·e (paid whether the GPUs run or not)."""
    return (
        annual_capital(s)
        + 12 * s.colo_usd_per_kw_month * s.provisioned_kw
        + s.ops_usd_per_year
        + s.power_idle_kw * s.pue * HOURS_PER_YEAR * s.usd_per_kwh
    )


def gpu_hour_rate(s: Server) -> Decimal:
    """The amortised owned cost of one GPU-hour, F/(N·8760), at 12 decimals.

    What an idle owned GPU-hour costs (energy above idle is not spent by an idle GPU). While
    the server is past its economic life the capital part is gone: use `day_gpu_hour_rate`.
    """
    return (annual_fixed(s) / (s.gpus * HOURS_PER_YEAR)).quantize(Q12, ROUND_HALF_EVEN)


def day_gpu_hour_rate(s: Server, day: date) -> Decimal:
    """F/(N·8760) for a given day: 0 outside service, no capital after the economic life."""
    if not s.in_service(day):
        return Decimal(0)
    fixed = annual_fixed(s)
    if day >= s.life_end():
        fixed -= annual_capital(s)
    return (fixed / (s.gpus * HOURS_PER_YEAR)).quantize(Q12, ROUND_HALF_EVEN)


def marginal_kwh_per_gpu_hour(s: Server) -> Decimal:
    """(P_load - P_idle)/N: wall energy above idle of one GPU-hour at full load, before PUE."""
    return (s.power_load_kw - s.power_idle_kw) / s.gpus


@dataclass(frozen=True)
class DayCost:
    day: date
    gpu_hours: int
    capex: Decimal
    colo: Decimal
    ops: Decimal
    idle_power: Decimal
    energy_above_idle: Decimal
    measured_gpu_hours: int  # GPU-hours whose load fraction came from telemetry

    @property
    def total(self) -> Decimal:
        return self.capex + self.colo + self.ops + self.idle_power + self.energy_above_idle

    @property
    def energy_basis(self) -> str:
        if self.measured_gpu_hours == 0:
            return "load_estimate"
        return "telemetry" if self.measured_gpu_hours >= self.gpu_hours else "mixed"


def _q(x: Decimal) -> Decimal:
    return x.quantize(Q12, ROUND_HALF_EVEN)


def day_cost(
    s: Server, day: date, measured_hours: int = 0, measured_load: Decimal = Decimal(0)
) -> DayCost | None:
    """The cost of one day in service, or None when the server is not in service that day.

    `measured_hours` GPU-hours of the day have telemetry power, whose load fractions sum to
    `measured_load`; the rest of the day's GPU-hours take the load estimate (fraction 1).
    """
    if not s.in_service(day):
        return None
    gpu_hours = s.gpus * 24
    measured_hours = min(measured_hours, gpu_hours)
    per_day = Decimal(24) / HOURS_PER_YEAR
    capex = annual_capital(s) * per_day if day < s.life_end() else Decimal(0)
    load_units = measured_load + (gpu_hours - measured_hours)
    kwh = marginal_kwh_per_gpu_hour(s) * load_units
    return DayCost(
        day=day,
        gpu_hours=gpu_hours,
        capex=_q(capex),
        colo=_q(12 * s.colo_usd_per_kw_month * s.provisioned_kw * per_day),
        ops=_q(s.ops_usd_per_year * per_day),
        idle_power=_q(s.power_idle_kw * s.pue * s.usd_per_kwh * 24),
        energy_above_idle=_q(kwh * s.pue * s.usd_per_kwh),
        measured_gpu_hours=measured_hours,
    )


def period_cost(
    s: Server, start: date, end: date, measured: dict[date, tuple[int, Decimal]] | None = None
) -> Decimal:
    """The model's cost of [start, end) computed from the period's length, not from days.

    Used to reconcile the daily lines: each fixed part is charged for the in-service hours of
    the period at its annual rate, energy for the period's GPU-hours at their load fractions.
    """
    measured = measured or {}
    in_service = [start + timedelta(days=i) for i in range((end - start).days)]
    in_service = [d for d in in_service if s.in_service(d)]
    hours = Decimal(24 * len(in_service))
    in_life = Decimal(24 * sum(1 for d in in_service if d < s.life_end()))
    fixed = (
        annual_capital(s) * in_life
        + (12 * s.colo_usd_per_kw_month * s.provisioned_kw + s.ops_usd_per_year) * hours
    ) / HOURS_PER_YEAR + s.power_idle_kw * s.pue * s.usd_per_kwh * hours
    units = Decimal(0)
    for d in in_service:
        n, load = measured.get(d, (0, Decimal(0)))
        n = min(n, s.gpus * 24)
        units += load + (s.gpus * 24 - n)
    energy = marginal_kwh_per_gpu_hour(s) * units * s.pue * s.usd_per_kwh
    return fixed + energy


def server_from_asset(row: dict) -> Server:
    """A Server from a row of the `assets` table (as a dict), e.g. for idle GPU-hour costs."""

    def day(value) -> date | None:
        return None if value is None else value.date() if hasattr(value, "date") else value

    return Server(
        asset_id=row["asset_id"],
        gpus=int(row["gpus"]),
        purchase_date=day(row["purchase_date"]),  # type: ignore[arg-type]
        retired_date=day(row.get("retired_date")),
        server_capex=Decimal(row["server_capex"]),
        network_capex=Decimal(row["network_capex"]),
        life_years=Decimal(row["life_years"]),
        residual_fraction=Decimal(row["residual_fraction"]),
        power_idle_kw=Decimal(row["power_idle_kw"]),
        power_load_kw=Decimal(row["power_load_kw"]),
        provisioned_kw=Decimal(row["provisioned_kw"]),
        pue=Decimal(row["pue"]),
        usd_per_kwh=Decimal(row["usd_per_kwh"]),
        colo_usd_per_kw_month=Decimal(row["colo_usd_per_kw_month"]),
        ops_usd_per_year=Decimal(row["ops_usd_per_year"]),
        wacc=None if row.get("wacc") is None else Decimal(row["wacc"]),
    )
