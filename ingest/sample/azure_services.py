"""Azure rows beyond the VMs: commitments (purchase vs unused), AI and network meters, Azure
ML compute, a Marketplace tool, and the driver that writes every month."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample.activity import billed_mask, host_state
from ingest.sample.azure import RI_ID, RI_ORDER, SP_ID, SP_ORDER, SRC, AzureMonth, Z
from ingest.sample.company import Company
from ingest.sample.pricing import effective_rate
from ingest.sample.truth import Ledger


def commitment_rows(
    am: AzureMonth,
    kind: str,
    hourly: Decimal,
    used_by_day: list[Decimal],
    team: str,
    gpu_model: str | None,
) -> None:
    """Monthly purchase (actual only) and daily unused remainder (amortized only)."""
    res = kind == "reserved"
    bid, bname = (RI_ID, "ND_H100_v5_RI_1yr") if res else (SP_ID, "Compute_SavingsPlan_ai_serving")
    common = {
        "benefitId": bid,
        "benefitName": bname,
        "ServiceFamily": "Compute",
        "MeterCategory": "",
        "ConsumedService": "Microsoft.Capacity" if res else "Microsoft.BillingBenefits",
        "ResourceId": bid,
        "Term": "12",
        "PricingModel": "Reservation" if res else "SavingsPlan",
        "ProductOrderId": RI_ORDER if res else SP_ORDER,
        "ProductOrderName": "Reserved VM Instance, Standard_ND96isr_H100_v5, US East, 1 Year"
        if res
        else "Compute savings plan, 1 Year",
    }
    hours = Decimal(24 * am.days)
    am.ledger.commitment(
        provider="azure",
        commitment_id=bid,
        name=bname,
        kind="Reservation" if res else "Savings Plan",
        period=am.m,
        purchase=hourly * hours,
        used=sum((min(u, hourly * 24) for u in used_by_day), Z),
        gpu_model=gpu_model,
    )
    am.row(
        day=am.first,
        sub_team=team,
        qty=Decimal(1),
        price=hourly * hours,
        actual=hourly * hours,
        amortized=None,
        team=team,
        ChargeType="Purchase",
        Frequency="Recurring",
        UnitOfMeasure="1 Hour" if res else "1 /Month",
        ProductName=common["ProductOrderName"],
        **common,
    )
    for d, used in enumerate(used_by_day):
        unused = hourly * 24 - used
        if unused <= 0:
            continue
        am.row(
            day=am.first.replace(day=d + 1),
            sub_team=team,
            qty=Decimal(1),
            price=unused,
            actual=None,
            amortized=unused,
            team=team,
            ChargeType="UnusedReservation" if res else "UnusedSavingsPlan",
            Frequency="UsageBased",
            UnitOfMeasure="1 Hour",
            ProductName=bname,
            **common,
        )


SERVICES = [  # team, workload, egress, category, subcategory, meter, unit, service,
    # price, daily quantity range, quantity divisor
    (
        "search",
        "inference",
        None,
        "Azure OpenAI",
        "gpt-4.1",
        "gpt 4.1 Inp Glbl 1M Tokens",
        "1M",
        "Microsoft.CognitiveServices",
        Decimal("2"),
        40_000,
        90_000,
        1000,
    ),
    (
        "search",
        "inference",
        None,
        "Azure OpenAI",
        "gpt-4.1",
        "gpt 4.1 Outp Glbl 1M Tokens",
        "1M",
        "Microsoft.CognitiveServices",
        Decimal("8"),
        8_000,
        20_000,
        1000,
    ),
    (
        "recsys",
        None,
        "internet",
        "Bandwidth",
        "",
        "Standard Data Transfer Out",
        "1 GB",
        "Microsoft.Network",
        Decimal("0.087"),
        200,
        700,
        1,
    ),
    (
        "research",
        None,
        "inter_region",
        "Bandwidth",
        "Inter-Region",
        "Intra Continent Data Transfer Out",
        "1 GB",
        "Microsoft.Network",
        Decimal("0.02"),
        800,
        1_600,
        1,
    ),
]


def service_rows(am: AzureMonth) -> None:
    for team, wl, eg, cat, subcat, meter, unit, svc, price, lo, hi, scale in SERVICES:
        qty = am.rng.integers(lo, hi + 1, am.days)
        rid = (
            f"/subscriptions/{am.c.team(team).azure_subscription}/resourceGroups/rg-{team}/"
            f"providers/{svc}/"
            + {
                "Microsoft.CognitiveServices": "accounts/acme-openai",
                "Microsoft.Network": "publicIPAddresses/acme-egress",
                "Microsoft.Compute": "disks/ckpt-disk-01",
            }[svc]
        )
        info = {"DataTransferDirection": "DataTrOut"} if cat == "Bandwidth" else {}
        for d in range(am.days):
            q = Decimal(int(qty[d])) / scale
            cost = q * price
            am.row(
                day=am.first.replace(day=d + 1),
                sub_team=team,
                qty=q,
                price=price,
                actual=cost,
                amortized=cost,
                team=team,
                workload=wl,
                egress=eg,
                ProductName=f"{cat} {subcat} - {meter}".replace("  ", " "),
                MeterCategory=cat,
                MeterSubCategory=subcat,
                MeterName=meter,
                ServiceFamily="AI + Machine Learning"
                if "OpenAI" in cat
                else "Networking"
                if cat == "Bandwidth"
                else "Storage",
                UnitOfMeasure=unit,
                ConsumedService=svc,
                ResourceId=rid,
                ResourceName=rid.rsplit("/", 1)[1],
                ResourceGroup=f"rg-{team}",
                MeterId=f"m-{meter}",
                AdditionalInfo=json.dumps(info, separators=(",", ":")) if info else "",
            )
    # Azure ML compute cluster for speech: billed only while jobs run
    hours = am.rng.integers(0, 20, am.days) * (am.rng.random(am.days) < 0.5)
    sub = am.c.team("speech").azure_subscription
    rid = (
        f"/subscriptions/{sub}/resourceGroups/rg-speech-ml/providers/"
        "Microsoft.MachineLearningServices/workspaces/speech-ws/computes/gpu-train"
    )
    price = Decimal("3.06")
    for d in np.flatnonzero(hours):
        q = Decimal(int(hours[d]))
        am.row(
            day=am.first.replace(day=int(d) + 1),
            sub_team="speech",
            qty=q,
            price=price,
            actual=q * price,
            amortized=q * price,
            team="speech",
            workload="training",
            ProductName="Virtual Machines NCSv3 Series - NC6s v3 - US East",
            MeterCategory="Virtual Machines",
            MeterSubCategory="NCSv3 Series",
            MeterName="NC6s v3",
            ServiceFamily="Compute",
            UnitOfMeasure="1 Hour",
            ConsumedService="Microsoft.MachineLearningServices",
            ResourceId=rid,
            ResourceName="gpu-train",
            ResourceGroup="rg-speech-ml",
            MeterId="m-NC6s v3",
            AdditionalInfo=json.dumps(
                {"UsageType": "ComputeHR", "ServiceType": "Standard_NC6s_v3", "VCPUs": 6},
                separators=(",", ":"),
            ),
        )
    # a labeling tool bought through the Azure Marketplace
    amount = Decimal(int(am.rng.integers(180_000, 260_001))) / 100
    am.row(
        day=am.first,
        sub_team="vision",
        qty=Decimal(1),
        price=amount,
        actual=amount,
        amortized=amount,
        team="vision",
        ChargeType="Purchase",
        Frequency="Recurring",
        PublisherType="Marketplace",
        PublisherName="Labelbox, Inc.",
        PlanName="Enterprise",
        MeterCategory="Unassigned",
        ProductName="Labelbox - Enterprise",
        UnitOfMeasure="1 /Month",
        ServiceFamily="",
        ConsumedService="",
        MeterId="",
    )
    am.ledger.tool("labeling", "Labelbox", "vision", amount, SRC)


def write_azure(
    out: Path, company: Company, ledger: Ledger, tick: Callable[[str], None] | None = None
) -> None:
    hosts = company.hosts_of("azure")
    states = {h.index: host_state(company.seed, company.cal, h) for h in hosts}
    months = company.cal.months
    # one month delivered twice (a month-to-date run, then the closing run); one in Parquet
    twice, parquet = months[-2] if len(months) > 1 else months[-1], months[0]
    for month in months:
        am = AzureMonth(company, month, out, ledger)
        a, b = company.cal.month_hours(month)
        for kind in ("reserved", "savings_plan"):
            group = [h for h in hosts if h.pricing == kind and h.start_h < b and h.end_h > a]
            used_by_day = [Z] * am.days
            for h in group:
                am.vm(h, states[h.index])
                billed = billed_mask(h, states[h.index])
                eff = effective_rate(company, h, month)
                for d in range(am.days):
                    used_by_day[d] += eff * int(billed[a + 24 * d : a + 24 * d + 24].sum())
            if group:
                hourly = sum((effective_rate(company, h, month) for h in group), Z)
                models = {h.gpu_model for h in group}
                gpu = models.pop() if len(models) == 1 else None
                commitment_rows(am, kind, hourly, used_by_day, group[0].team, gpu)
        for h in hosts:
            if h.pricing == "on_demand":
                am.vm(h, states[h.index])
        service_rows(am)
        am.close(twice=month == twice, parquet=month == parquet)
        if tick:
            tick(month)
