"""The fictional enterprise's vocabulary: calendar, teams, machines, assets, planted events.

Plain frozen dataclasses; enterprise.py draws one company from a seed. No file is written and
nothing depends on today's date: every date derives from the last billing month.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

COMPANY_NAME = "Acme Neural Labs"
ONPREM_SITE = "Acme Colo IAD1"
PROVIDERS = ("aws", "azure", "gcp", "onprem", "saas")


@dataclass(frozen=True)
class Calendar:
    """The billing months covered, as UTC hours counted from the first month's start."""

    months: tuple[str, ...]  # "YYYY-MM", oldest first

    @property
    def start(self) -> datetime:
        return month_start(self.months[0])

    @property
    def end(self) -> datetime:
        return month_start(next_month(self.months[-1]))

    @property
    def hours(self) -> int:
        return int((self.end - self.start).total_seconds() // 3600)

    def month_hours(self, month: str) -> tuple[int, int]:
        """Hour indexes [first, last) of a billing month."""
        a = int((month_start(month) - self.start).total_seconds() // 3600)
        b = int((month_start(next_month(month)) - self.start).total_seconds() // 3600)
        return a, b

    def hour_time(self, h: int) -> datetime:
        return self.start + timedelta(hours=h)

    def hour_of(self, when: datetime) -> int:
        return int((when - self.start).total_seconds() // 3600)


def month_start(month: str) -> datetime:
    y, m = month.split("-")
    return datetime(int(y), int(m), 1, tzinfo=UTC)


def next_month(month: str) -> str:
    y, m = (int(x) for x in month.split("-"))
    return f"{y + (m == 12)}-{m % 12 + 1:02d}"


def month_range(end_month: str, months: int) -> tuple[str, ...]:
    out = [end_month]
    for _ in range(months - 1):
        y, m = (int(x) for x in out[-1].split("-"))
        out.append(f"{y - (m == 1)}-{(m - 2) % 12 + 1:02d}")
    return tuple(reversed(out))


@dataclass(frozen=True)
class Team:
    name: str
    cost_center: str
    aws_account: str
    azure_subscription: str
    gcp_project: str


@dataclass(frozen=True)
class GpuHost:
    """One billed machine with accelerators (cloud instance/VM or on-prem server)."""

    provider: str  # aws | azure | gcp | onprem
    host: str  # hostname as telemetry reports it
    resource_id: str  # billed id: EC2 instance id, Azure VM resource id, GCP instance, asset id
    instance_type: str
    gpu_model: str  # DCGM modelName
    gpus: int
    team: str
    workload: str  # training | inference | experimentation | data_prep
    pattern: str  # training | inference | notebook | abandoned | always
    start_h: int  # first billed hour (inclusive)
    end_h: int  # last billed hour (exclusive)
    rate: Decimal  # on-demand $/instance-hour
    pricing: str  # on_demand | savings_plan | reserved | cud | owned
    telemetry: str  # dcgm | nvidia-smi | none
    region: str
    index: int  # stable number for per-host random streams
    project_end_h: int | None = None  # abandoned fleets: work stops here, billing goes on
    bulk: bool = False  # scale-out filler without telemetry
    service: str = "ec2"  # ec2 | sagemaker-<train|processing|host|notebook> | vm | server


@dataclass(frozen=True)
class Asset:
    """One on-prem server and its cost inputs (gpu_economics.md A4)."""

    asset_id: str
    cluster: str
    hostname: str
    gpu_model: str
    gpus: int
    purchase_date: date
    server_capex: Decimal
    network_capex: Decimal
    life_years: int
    residual_fraction: Decimal
    power_idle_kw: Decimal
    power_load_kw: Decimal
    provisioned_kw: Decimal
    pue: Decimal
    usd_per_kwh: Decimal
    colo_usd_per_kw_month: Decimal
    ops_usd_per_year: Decimal
    team: str


@dataclass(frozen=True)
class Events:
    egress_spike_month: str
    egress_spike_days: tuple[int, ...]  # day-of-month numbers
    egress_spike_tb_per_day: int
    restated_month: str
    restated_credit: Decimal  # SLA credit added by the restatement (negative)
    price_change_month: str  # first month at the new price
    price_change_type: str
    price_old: Decimal
    price_new: Decimal
    abandoned_end: datetime  # when the vision project ended on the p4d fleet


@dataclass(frozen=True)
class Company:
    seed: int
    cal: Calendar
    teams: tuple[Team, ...]
    hosts: tuple[GpuHost, ...]
    assets: tuple[Asset, ...]
    events: Events
    providers: tuple[str, ...]
    payer_account: str = "412395078111"
    billing_account_azure: str = "7f3c1d2e-5a6b-4c8d-9e0f-a1b2c3d4e5f6:0e9d8c7b-2024-10-01"
    billing_account_gcp: str = "01A2B3-C4D5E6-F7A8B9"

    def team(self, name: str) -> Team:
        return next(t for t in self.teams if t.name == name)

    def hosts_of(self, provider: str) -> list[GpuHost]:
        return [h for h in self.hosts if h.provider == provider]


GPU_MODELS = {
    "H100": "NVIDIA H100 80GB HBM3",
    "A100-40": "NVIDIA A100-SXM4-40GB",
    "A100-80": "NVIDIA A100-SXM4-80GB",
    "A10G": "NVIDIA A10G",
    "A10": "NVIDIA A10",
    "L4": "NVIDIA L4",
    "INF2": "AWS Inferentia2",
    "TRN1": "AWS Trainium",
}

TEAM_NAMES = ("research", "platform", "search", "recsys", "vision", "speech")


def teams_from(rng: random.Random) -> tuple[Team, ...]:
    out = []
    for i, name in enumerate(TEAM_NAMES):
        acct = str(rng.randrange(10**11, 10**12))
        parts = [rng.getrandbits(b) for b in (32, 16, 12, 12, 48)]
        sub = f"{parts[0]:08x}-{parts[1]:04x}-4{parts[2]:03x}-8{parts[3]:03x}-{parts[4]:012x}"
        out.append(
            Team(name, f"CC-{410 + i}", acct, sub, f"acme-{name}-{rng.randrange(1000, 9999)}")
        )
    return tuple(out)
