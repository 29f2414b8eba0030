"""The fictional enterprise: calendar, teams, accounts, GPU fleet and planted events.

Everything here is derived from one seeded ``random.Random`` so a seed fully determines the
company. No file is written and nothing depends on today's date.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
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
    service: str = "ec2"  # ec2 | sagemaker-train | sagemaker-host | sagemaker-notebook | vm


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
    extras: dict = field(default_factory=dict)

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


def _teams(rng: random.Random) -> tuple[Team, ...]:
    out = []
    for i, name in enumerate(TEAM_NAMES):
        acct = str(rng.randrange(10**11, 10**12))
        sub = "%08x-%04x-4%03x-8%03x-%012x" % (
            rng.getrandbits(32),
            rng.getrandbits(16),
            rng.getrandbits(12),
            rng.getrandbits(12),
            rng.getrandbits(48),
        )
        out.append(Team(name, f"CC-{410 + i}", acct, sub, f"acme-{name}-{rng.randrange(1000, 9999)}"))
    return tuple(out)


def _ec2_id(rng: random.Random) -> str:
    return f"i-0{rng.getrandbits(64):016x}"


def build_company(
    seed: int, months: int, end_month: str, scale_hosts: int = 1, providers=PROVIDERS
) -> Company:
    """Draw the company. ``scale_hosts`` multiplies the monitored cloud fleet (medium scale)."""
    rng = random.Random(seed)
    cal = Calendar(month_range(end_month, months))
    teams = _teams(rng)
    H = cal.hours
    n = len(cal.months)

    def mh(i: int) -> int:  # first hour of month i (clamped, negative = from the end)
        return cal.month_hours(cal.months[max(0, min(n - 1, i if i >= 0 else n + i))])[0]

    ev_mid = max(0, n // 2)
    abandoned_end = cal.hour_time(mh(max(1, n - 4)) + 24 * rng.randrange(3, 12) + 17)
    spike_month = cal.months[max(0, n - 3)]
    events = Events(
        egress_spike_month=spike_month,
        egress_spike_days=(12, 13, 14),
        egress_spike_tb_per_day=rng.choice((55, 60, 65)),
        restated_month=cal.months[max(0, n - 2)],
        restated_credit=Decimal("-1850.00"),
        price_change_month=cal.months[ev_mid],
        price_change_type="p5.48xlarge",
        price_old=Decimal("55.04"),
        price_new=Decimal("44.0320"),
        abandoned_end=abandoned_end,
    )
    idx = iter(range(10_000))
    hosts: list[GpuHost] = []
    aws_region, az_region, gcp_region = "us-east-1", "eastus", "us-central1"

    def add(**kw) -> None:
        hosts.append(GpuHost(index=next(idx), **kw))

    for rep in range(scale_hosts):
        sfx = "" if rep == 0 else f"-r{rep}"
        if "aws" in providers:
            for k in (1, 2):
                add(provider="aws", host=f"ip-10-20-1-{10 + k}{sfx}", resource_id=_ec2_id(rng),
                    instance_type="p5.48xlarge", gpu_model=GPU_MODELS["H100"], gpus=8,
                    team="research", workload="training", pattern="training", start_h=0,
                    end_h=H, rate=events.price_old, pricing="savings_plan", telemetry="dcgm",
                    region="us-east-2")
            pend = cal.hour_of(abandoned_end)
            for k in (1, 2, 3):
                add(provider="aws", host=f"ip-10-20-2-{20 + k}{sfx}", resource_id=_ec2_id(rng),
                    instance_type="p4d.24xlarge", gpu_model=GPU_MODELS["A100-40"], gpus=8,
                    team="vision", workload="training", pattern="abandoned",
                    start_h=mh(1) + 24 * k, end_h=min(H, pend + 24 * 37 + 5 * k),
                    rate=Decimal("21.957642"), pricing="on_demand", telemetry="dcgm",
                    region=aws_region, project_end_h=pend)
            for k, tel in ((1, "dcgm"), (2, "nvidia-smi")):
                add(provider="aws", host=f"ip-10-20-3-{30 + k}{sfx}", resource_id=_ec2_id(rng),
                    instance_type="g5.2xlarge", gpu_model=GPU_MODELS["A10G"], gpus=1,
                    team="search", workload="experimentation", pattern="notebook", start_h=0,
                    end_h=H, rate=Decimal("1.212"), pricing="on_demand", telemetry=tel,
                    region=aws_region)
            add(provider="aws", host=f"ip-10-20-4-41{sfx}", resource_id=_ec2_id(rng),
                instance_type="g6.12xlarge", gpu_model=GPU_MODELS["L4"], gpus=4, team="recsys",
                workload="inference", pattern="inference", start_h=0, end_h=H,
                rate=Decimal("4.6016"), pricing="reserved", telemetry="dcgm", region=aws_region)
            add(provider="aws", host=f"ip-10-20-4-42{sfx}", resource_id=_ec2_id(rng),
                instance_type="inf2.8xlarge", gpu_model=GPU_MODELS["INF2"], gpus=1,
                team="search", workload="inference", pattern="inference", start_h=0, end_h=H,
                rate=Decimal("1.96786"), pricing="on_demand", telemetry="none",
                region=aws_region)
            add(provider="aws", host=f"ip-10-20-5-51{sfx}", resource_id=_ec2_id(rng),
                instance_type="trn1.32xlarge", gpu_model=GPU_MODELS["TRN1"], gpus=16,
                team="speech", workload="training", pattern="training", start_h=mh(-5),
                end_h=mh(-3), rate=Decimal("21.50"), pricing="on_demand", telemetry="none",
                region=aws_region)
        if "azure" in providers:
            sub = teams[0].azure_subscription

            def vm_id(rg: str, name: str, sub: str = sub) -> str:
                return (f"/subscriptions/{sub}/resourceGroups/{rg}/providers/"
                        f"Microsoft.Compute/virtualMachines/{name}")

            add(provider="azure", host=f"nd-h100-train-01{sfx}",
                resource_id=vm_id("rg-research-train", f"nd-h100-train-01{sfx}"),
                instance_type="Standard_ND96isr_H100_v5", gpu_model=GPU_MODELS["H100"], gpus=8,
                team="research", workload="training", pattern="training", start_h=mh(2),
                end_h=H, rate=Decimal("98.32"), pricing="reserved", telemetry="dcgm",
                region=az_region)
            rsub = teams[3].azure_subscription
            for k, tel in ((1, "dcgm"), (2, "none")):
                add(provider="azure", host=f"nc-a100-serve-0{k}{sfx}",
                    resource_id=vm_id("rg-recsys-serving", f"nc-a100-serve-0{k}{sfx}", rsub),
                    instance_type="Standard_NC24ads_A100_v4", gpu_model=GPU_MODELS["A100-80"],
                    gpus=1, team="recsys", workload="inference", pattern="inference",
                    start_h=mh(3), end_h=H, rate=Decimal("3.673"), pricing="savings_plan",
                    telemetry=tel, region=az_region)
            vsub = teams[4].azure_subscription
            add(provider="azure", host=f"nv-a10-lab-01{sfx}",
                resource_id=vm_id("rg-vision-lab", f"nv-a10-lab-01{sfx}", vsub),
                instance_type="Standard_NV36ads_A10_v5", gpu_model=GPU_MODELS["A10"], gpus=1,
                team="vision", workload="experimentation", pattern="notebook", start_h=mh(4),
                end_h=H, rate=Decimal("3.20"), pricing="on_demand", telemetry="nvidia-smi",
                region=az_region)
        if "gcp" in providers:
            proj = teams[2].gcp_project
            add(provider="gcp", host=f"g2-l4-serve-01{sfx}",
                resource_id=f"projects/{proj}/zones/us-central1-a/instances/g2-l4-serve-01{sfx}",
                instance_type="g2-standard-8", gpu_model=GPU_MODELS["L4"], gpus=1, team="search",
                workload="inference", pattern="inference", start_h=mh(-3), end_h=H,
                rate=Decimal("0.85404"), pricing="cud", telemetry="dcgm", region=gcp_region)
            rproj = teams[0].gcp_project
            a3 = mh(-4) + 24 * 5
            add(provider="gcp", host=f"a3-train-01{sfx}",
                resource_id=f"projects/{rproj}/zones/us-central1-a/instances/a3-train-01{sfx}",
                instance_type="a3-highgpu-8g", gpu_model=GPU_MODELS["H100"], gpus=8,
                team="research", workload="training", pattern="training", start_h=a3,
                end_h=a3 + 24 * 9, rate=Decimal("88.49"), pricing="on_demand",
                telemetry="dcgm", region=gcp_region)
            vproj = teams[4].gcp_project
            a2 = mh(-2) + 24 * 3
            add(provider="gcp", host=f"a2-notebook-01{sfx}",
                resource_id=f"projects/{vproj}/zones/us-central1-b/instances/a2-notebook-01{sfx}",
                instance_type="a2-highgpu-1g", gpu_model=GPU_MODELS["A100-40"], gpus=1,
                team="vision", workload="experimentation", pattern="notebook", start_h=a2,
                end_h=a2 + 24 * 28, rate=Decimal("3.67326"), pricing="on_demand",
                telemetry="none", region=gcp_region)
    assets: list[Asset] = []
    if "onprem" in providers:
        assets, onprem_hosts = _onprem(rng, cal, idx)
        hosts.extend(onprem_hosts)
    return Company(seed, cal, teams, tuple(hosts), tuple(assets), events, tuple(providers))


def _onprem(rng: random.Random, cal: Calendar, idx) -> tuple[list[Asset], list[GpuHost]]:
    """Two 8-GPU clusters in one colo: H100 for research training, A100 shared by vision/speech."""
    assets, hosts = [], []
    h100_buy = date(cal.start.year - 1, 3, 14)
    a100_buy = date(cal.start.year - 3, 6, 2)
    spec = [
        ("h100", "H100", 4, h100_buy, "310000", "34000", "research", "training", "training",
         "dcgm", "7.5", "2.5", "10.2"),
        ("a100", "A100-80", 4, a100_buy, "165000", "15100", "vision", "inference", "inference",
         "nvidia-smi", "5.2", "1.8", "6.5"),
    ]
    for cl, gm, count, bought, capex, net, team, wl, pattern, tel, pload, pidle, pprov in spec:
        for k in range(1, count + 1):
            host = f"gpu-{cl}-{k:02d}.iad1.acme.internal"
            aid = f"ASSET-IAD1-{cl.upper()}-{k:02d}"
            t, w, p, telem = team, wl, pattern, tel
            if cl == "a100" and k == 3:  # a speech project that ended: idle for weeks
                t, w, p = "speech", "training", "abandoned"
            if cl == "a100" and k == 4:  # no exporter was ever installed
                telem = "none"
            assets.append(Asset(aid, cl, host, GPU_MODELS[gm], 8, bought, Decimal(capex),
                                Decimal(net), 5, Decimal("0.10"), Decimal(pidle),
                                Decimal(pload), Decimal(pprov), Decimal("1.40"),
                                Decimal("0.0895"), Decimal("184.06"), Decimal("15000"), t))
            end_work = cal.hours - 24 * rng.randrange(40, 50) if p == "abandoned" else None
            hosts.append(GpuHost(provider="onprem", host=host, resource_id=aid,
                                 instance_type=f"HGX-{gm.split('-')[0]}-8GPU",
                                 gpu_model=GPU_MODELS[gm], gpus=8, team=t, workload=w,
                                 pattern=p, start_h=0, end_h=cal.hours, rate=Decimal(0),
                                 pricing="owned", telemetry=telem, region="iad1",
                                 index=next(idx), project_end_h=end_work))
    return assets, hosts


def with_bulk(company: Company, n_hosts: int, provider: str = "aws") -> Company:
    """Add unmonitored 24x7 inference hosts so a benchmark reaches its line count."""
    base = len(company.hosts)
    rng = random.Random(company.seed * 7919 + n_hosts)
    teams = [t.name for t in company.teams]
    bulk = []
    for k in range(n_hosts):
        tpl = GpuHost(provider=provider, host=f"ip-10-{100 + k // 65000}-{k // 250 % 260}-{k % 250}",
                      resource_id=_ec2_id(rng), instance_type="g6.xlarge",
                      gpu_model=GPU_MODELS["L4"], gpus=1, team=teams[k % len(teams)],
                      workload="inference", pattern="always", start_h=0,
                      end_h=company.cal.hours, rate=Decimal("0.8048"), pricing="on_demand",
                      telemetry="none", region="us-east-1", index=base + k, bulk=True)
        bulk.append(tpl)
    return replace(company, hosts=company.hosts + tuple(bulk))
