"""On-prem: the GPU server inventory and the A4 cost model applied day by day.

There is no bill for owned hardware; its cost is what an ingestor following
gpu_economics.md A4 computes from the inventory and the telemetry. Per server of N GPUs and
UTC day in service, each part rounded half-even to 12 decimals:

    capex  = C(1-rho)/L * 24/8760          (C = server + network capex; only within the life)
    colo   = 12 k P_prov * 24/8760
    ops    = O * 24/8760
    idle   = P_idle PUE e * 24
    energy = (P_load - P_idle)/N * units * PUE e
    units  = sum over the day's GPU-hours of a load fraction: measured GPU power / board power
             (H100 700 W, A100 400 W), capped at 1 and rounded to 6 decimals, for GPU-hours with
             power telemetry; 1 for GPU-hours without (a server that is not monitored is
             charged as if at full load, so missing telemetry never makes it look cheaper).

day = capex + colo + ops + idle + energy; a month's cost is the sum of its days.
"""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample.activity import gpu_values, host_state
from ingest.sample.company import ONPREM_SITE, Company
from ingest.sample.pricing import owned_cost
from ingest.sample.telemetry import derived
from ingest.sample.truth import Ledger

COLUMNS = [
    "asset_id",
    "site",
    "hostnames",
    "gpu_model",
    "gpus",
    "purchase_date",
    "server_capex",
    "network_capex",
    "life_years",
    "residual_fraction",
    "power_idle_kw",
    "power_load_kw",
    "provisioned_kw",
    "pue",
    "usd_per_kwh",
    "colo_usd_per_kw_month",
    "ops_usd_per_year",
    "team",
    "currency",
    "retired_date",
    "wacc",
    "tags",
]


def write_inventory(out: Path, company: Company) -> None:
    d = out / "onprem"
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "inventory.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        for a in company.assets:
            host = next(h for h in company.hosts if h.resource_id == a.asset_id)
            w.writerow(
                [
                    a.asset_id,
                    ONPREM_SITE,
                    a.hostname,
                    a.gpu_model,
                    a.gpus,
                    a.purchase_date.isoformat(),
                    a.server_capex,
                    a.network_capex,
                    a.life_years,
                    a.residual_fraction,
                    a.power_idle_kw,
                    a.power_load_kw,
                    a.provisioned_kw,
                    a.pue,
                    a.usd_per_kwh,
                    a.colo_usd_per_kw_month,
                    a.ops_usd_per_year,
                    a.team,
                    "USD",
                    "",
                    "",
                    f"workload={host.workload}",  # as the clouds' workload tags
                ]
            )


BOARD_WATTS = {"NVIDIA H100 80GB HBM3": 700, "NVIDIA A100-SXM4-80GB": 400}
Q6 = Decimal("1E-6")


def _day_units(company: Company, host, gpus: int) -> list[Decimal]:
    """Per UTC day: the sum of GPU-hour load fractions from the power telemetry."""
    days = company.cal.hours // 24
    if host.telemetry == "none":
        return [Decimal(gpus * 24)] * days
    state = np.nan_to_num(host_state(company.seed, company.cal, host), nan=0.0)
    vals = gpu_values(company.seed, host, state)
    watts = Decimal(BOARD_WATTS[host.gpu_model])
    # fractions take few distinct values (power is whole watts), so price each watt once
    frac: dict[int, Decimal] = {}
    out = []
    power = np.stack([derived(host, vals[g], state)[1] for g in range(gpus)])
    for d in range(days):
        total = Decimal(0)
        for w in power[:, 24 * d : 24 * d + 24].astype(np.int64).ravel().tolist():
            f = frac.get(w)
            if f is None:
                f = frac[w] = min(max(Decimal(w) / watts, Decimal(0)), Decimal(1)).quantize(Q6)
            total += f
        out.append(total)
    return out


def book_costs(company: Company, ledger: Ledger) -> None:
    """Add every asset-day's modelled cost to the ledger (provider = the site name)."""
    start = company.cal.start.date()
    for a in company.assets:
        host = next(h for h in company.hosts if h.resource_id == a.asset_id)
        oc = owned_cost(a)
        life_end = a.purchase_date.replace(year=a.purchase_date.year + a.life_years)
        for i, units in enumerate(_day_units(company, host, a.gpus)):
            day: date = start + timedelta(days=i)
            if day < a.purchase_date:
                continue
            cost = oc.day_cost(units, in_life=day < life_end)
            ledger.charge(
                provider=ONPREM_SITE,
                source="onprem",
                period=day.strftime("%Y-%m"),
                billed=cost,
                effective=cost,
                team=a.team,
                workload=host.workload,
            )


def model_doc(company: Company) -> list[dict]:
    """Per-asset model terms, written into truth so a reader can check an ingestor's sums."""
    out = []
    for a in company.assets:
        oc = owned_cost(a)
        out.append(
            {
                "asset_id": a.asset_id,
                "fixed_per_year": str(oc.fixed_per_year),
                "energy_kwh_above_idle_per_gpu_hour_at_load": str(oc.energy_kwh_per_unit),
                "gpu_hour_rate": str(oc.gpu_hour_rate(a.gpus)),
                "annual_capital": str(oc.annual_capital),
                "annual_colo": str(oc.annual_colo),
                "annual_ops": str(oc.annual_ops),
                "annual_idle_power": str(oc.annual_idle_power),
            }
        )
    return out
