"""Prices and effective (amortised) rates: one place, read by the billing writers and truth.

Every rate keeps at most 8 decimals so a float64 in a CUR/Parquet file round-trips to the
same decimal, and products with whole-hour quantities stay exact in ``Decimal``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from ingest.sample.company import Asset, Company, GpuHost

SP_DISCOUNT = Decimal("0.60")  # AWS Compute Savings Plan rate = 60% of on-demand
RI_DISCOUNT = Decimal("0.634")  # AWS 1-year no-upfront RI rate = 63.4% of on-demand
AZ_RI_DISCOUNT = Decimal("0.55")
AZ_SP_DISCOUNT = Decimal("0.70")
GCP_CUD_RATE = Decimal("0.63")  # resource CUD commitment price = 63% of on-demand
HOURS_PER_YEAR = Decimal(8760)
Q12 = Decimal("1E-12")

# GCP bills GPU, vCPU and RAM of a VM as separate SKUs: (sku id, description, unit qty, price)
GCP_PARTS = {
    "g2-standard-8": [
        ("3E2E-1C5B-A3D1", "Nvidia L4 GPU running in Americas", 1, Decimal("0.56")),
        ("6A2C-22F7-E1F2", "G2 Instance Core running in Americas", 8, Decimal("0.02491")),
        ("9D1E-77B0-C0A4", "G2 Instance Ram running in Americas", 32, Decimal("0.002918")),
    ],
    "a3-highgpu-8g": [
        ("C5A1-8B36-77E0", "Nvidia H100 80GB GPU running in Americas", 8, Decimal("9.79655")),
        ("E0E4-5F1B-2A73", "A3 Instance Core running in Americas", 208, Decimal("0.03")),
        ("2B7D-9C1F-0E55", "A3 Instance Ram running in Americas", 1872, Decimal("0.0017")),
    ],
    "a2-highgpu-1g": [
        ("039F-D0DA-4055", "Nvidia Tesla A100 GPU running in Americas", 1, Decimal("2.933908")),
        ("9F3B-1C5E-8A20", "A2 Instance Core running in Americas", 12, Decimal("0.031611")),
        ("5E7A-3D2C-6B19", "A2 Instance Ram running in Americas", 85, Decimal("0.004237")),
    ],
}


def od_rate(company: Company, host: GpuHost, month: str) -> Decimal:
    """On-demand $/instance-hour in a billing month (the planted price change applies here)."""
    ev = company.events
    if (
        host.provider == "aws"
        and host.instance_type == ev.price_change_type
        and month >= ev.price_change_month
    ):
        return ev.price_new
    if host.provider == "gcp":
        return sum((q * p for _, _, q, p in GCP_PARTS[host.instance_type]), Decimal(0))
    return host.rate


def effective_rate(company: Company, host: GpuHost, month: str) -> Decimal:
    """EffectiveCost of one billed instance-hour (commitments amortised)."""
    od = od_rate(company, host, month)
    if host.provider == "aws":
        if host.pricing == "savings_plan":
            return od * SP_DISCOUNT
        if host.pricing == "reserved":
            return od * RI_DISCOUNT
        return od
    if host.provider == "azure":
        if host.pricing == "reserved":
            return od * AZ_RI_DISCOUNT
        if host.pricing == "savings_plan":
            return od * AZ_SP_DISCOUNT
        return od
    if host.provider == "gcp":
        if host.pricing == "cud":
            return od * GCP_CUD_RATE
        return od
    raise ValueError(f"no cloud rate for {host.provider}")


@dataclass(frozen=True)
class OwnedCost:
    """gpu_economics.md A4 for one server: F ($/year fixed) and its per-day parts."""

    annual_capital: Decimal
    annual_colo: Decimal
    annual_ops: Decimal
    annual_idle_power: Decimal
    energy_kwh_per_unit: Decimal  # (P_load - P_idle) / N: above-idle kWh of a GPU-hour at load
    pue: Decimal
    usd_per_kwh: Decimal
    idle_kw: Decimal

    @property
    def fixed_per_year(self) -> Decimal:
        return self.annual_capital + self.annual_colo + self.annual_ops + self.annual_idle_power

    def day_cost(self, load_units: Decimal, in_life: bool = True) -> Decimal:
        """One day in service: each part rounded to 12 decimals, then summed."""
        day = Decimal(24) / HOURS_PER_YEAR
        parts = (
            self.annual_capital * day if in_life else Decimal(0),
            self.annual_colo * day,
            self.annual_ops * day,
            self.idle_kw * self.pue * self.usd_per_kwh * 24,
            self.energy_kwh_per_unit * load_units * self.pue * self.usd_per_kwh,
        )
        return sum((p.quantize(Q12, ROUND_HALF_EVEN) for p in parts), Decimal(0))

    def gpu_hour_rate(self, gpus: int) -> Decimal:
        """Amortised owned cost of one GPU-hour, F / (N * 8760), at 12 decimals."""
        return (self.fixed_per_year / (gpus * HOURS_PER_YEAR)).quantize(Q12, ROUND_HALF_EVEN)


def owned_cost(a: Asset) -> OwnedCost:
    capex = a.server_capex + a.network_capex
    return OwnedCost(
        annual_capital=capex * (1 - a.residual_fraction) / a.life_years,
        annual_colo=12 * a.colo_usd_per_kw_month * a.provisioned_kw,
        annual_ops=a.ops_usd_per_year,
        annual_idle_power=a.power_idle_kw * a.pue * HOURS_PER_YEAR * a.usd_per_kwh,
        energy_kwh_per_unit=(a.power_load_kw - a.power_idle_kw) / a.gpus,
        pue=a.pue,
        usd_per_kwh=a.usd_per_kwh,
        idle_kw=a.power_idle_kw,
    )
