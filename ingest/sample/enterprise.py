"""Assemble the company from one seeded generator: teams, events, fleet, on-prem assets."""

from __future__ import annotations

import random
from dataclasses import replace
from decimal import Decimal

from ingest.sample.company import (
    GPU_MODELS,
    PROVIDERS,
    Calendar,
    Company,
    Events,
    GpuHost,
    month_range,
    teams_from,
)
from ingest.sample.fleet import cloud_hosts, onprem_fleet


def build_company(
    seed: int,
    months: int,
    end_month: str,
    scale_hosts: int = 1,
    providers: tuple[str, ...] = PROVIDERS,
) -> Company:
    """Draw the company. ``scale_hosts`` repeats the cloud fleet (the medium scale)."""
    rng = random.Random(seed)
    cal = Calendar(month_range(end_month, months))
    teams = teams_from(rng)
    n = len(cal.months)
    first_of = [cal.month_hours(m)[0] for m in cal.months]
    events = Events(
        egress_spike_month=cal.months[max(0, n - 3)],
        egress_spike_days=(12, 13, 14),
        egress_spike_tb_per_day=rng.choice((55, 60, 65)),
        restated_month=cal.months[max(0, n - 2)],
        restated_credit=Decimal("-1850.00"),
        price_change_month=cal.months[n // 2],
        price_change_type="p5.48xlarge",
        price_old=Decimal("55.04"),
        price_new=Decimal("44.032"),
        abandoned_end=cal.hour_time(
            first_of[max(0, min(n - 1, max(1, n - 4)))] + 24 * rng.randrange(3, 12) + 17
        ),
    )
    hosts = cloud_hosts(rng, cal, teams, events, providers, scale_hosts, 0)
    assets = []
    if "onprem" in providers:
        assets, owned = onprem_fleet(rng, cal, len(hosts))
        hosts += owned
    return Company(seed, cal, teams, tuple(hosts), tuple(assets), events, tuple(providers))


def with_bulk(company: Company, n_hosts: int) -> Company:
    """Add unmonitored 24x7 AWS inference instances so a benchmark reaches its line count."""
    base = len(company.hosts)
    rng = random.Random(company.seed * 7919 + n_hosts)
    teams = [t.name for t in company.teams]
    bulk = tuple(
        GpuHost(
            provider="aws",
            host=f"ip-10-{100 + k // 65000}-{k // 250 % 260}-{k % 250}",
            resource_id=f"i-0{rng.getrandbits(64):016x}",
            instance_type="g6.xlarge",
            gpu_model=GPU_MODELS["L4"],
            gpus=1,
            team=teams[k % len(teams)],
            workload="inference",
            pattern="always",
            start_h=0,
            end_h=company.cal.hours,
            rate=Decimal("0.8048"),
            pricing="on_demand",
            telemetry="none",
            region="us-east-1",
            index=base + k,
            bulk=True,
        )
        for k in range(n_hosts)
    )
    return replace(company, hosts=company.hosts + bulk)
