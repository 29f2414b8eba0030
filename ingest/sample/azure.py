"""Azure: cost details (MCA layout), one actual and one amortized export per month.

One row per resource, meter and day, as Cost Management exports write them. The actual file
carries reservation and savings-plan purchases; the amortized file spreads them over the
covered usage and adds UnusedReservation / UnusedSavingsPlan rows instead. The files are
delivered as export runs (ingest/sample/azure_exports.py).
"""

from __future__ import annotations

import calendar as pycal
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import numpy as np

from ingest.sample.activity import billed_mask
from ingest.sample.azure_exports import write_month
from ingest.sample.company import Company, GpuHost
from ingest.sample.pricing import effective_rate, od_rate
from ingest.sample.truth import Ledger

P, SRC = "Microsoft", "azure-cost-details"
# The finops-toolkit cost-details header, with the MCA names for cost/product/invoice
# section, then the MCA-only currency and service-period columns.
HEADER = [
    "BillingAccountId",
    "BillingAccountName",
    "BillingPeriodStartDate",
    "BillingPeriodEndDate",
    "BillingProfileId",
    "BillingProfileName",
    "AccountOwnerId",
    "AccountName",
    "SubscriptionId",
    "SubscriptionName",
    "Date",
    "ProductName",
    "PartNumber",
    "MeterId",
    "ServiceFamily",
    "MeterCategory",
    "MeterSubCategory",
    "MeterRegion",
    "MeterName",
    "Quantity",
    "EffectivePrice",
    "CostInBillingCurrency",
    "UnitPrice",
    "BillingCurrency",
    "ResourceLocation",
    "AvailabilityZone",
    "ConsumedService",
    "ResourceId",
    "ResourceName",
    "ServiceInfo1",
    "ServiceInfo2",
    "AdditionalInfo",
    "Tags",
    "InvoiceSectionId",
    "InvoiceSectionName",
    "CostCenter",
    "UnitOfMeasure",
    "ResourceGroup",
    "ReservationId",
    "ReservationName",
    "ProductOrderId",
    "ProductOrderName",
    "OfferId",
    "IsAzureCreditEligible",
    "Term",
    "PublisherName",
    "PlanName",
    "ChargeType",
    "Frequency",
    "PublisherType",
    "PayGPrice",
    "PricingModel",
    "CostAllocationRuleName",
    "benefitId",
    "benefitName",
    "InvoiceId",
    "ProductId",
    "PricingCurrency",
    "CostInPricingCurrency",
    "CostInUsd",
    "PaygCostInBillingCurrency",
    "PaygCostInUsd",
    "ExchangeRatePricingToBilling",
    "ExchangeRateDate",
    "ServicePeriodStartDate",
    "ServicePeriodEndDate",
]
VM_METERS = {  # size -> (meter subcategory, meter name, vCPUs)
    "Standard_ND96isr_H100_v5": ("ND H100 v5 Series", "ND96isr H100 v5", 96),
    "Standard_NC24ads_A100_v4": ("NC A100 v4 Series", "NC24ads A100 v4", 24),
    "Standard_NV36ads_A10_v5": ("NVadsA10 v5 Series", "NV36ads A10 v5", 36),
    "Standard_NC6s_v3": ("NCSv3 Series", "NC6s v3", 6),
}
RI_ORDER = "5b2d4a1c-3e6f-4a8b-9c0d-1e2f3a4b5c6d"
SP_ORDER = "8c7b6a59-4d3e-4f2a-8b1c-0d9e8f7a6b5c"
RI_ID = f"/providers/Microsoft.Capacity/reservationOrders/{RI_ORDER}/reservations/0f9e8d7c"
SP_ID = f"/providers/Microsoft.BillingBenefits/savingsPlanOrders/{SP_ORDER}/savingsPlans/1a2b3c4d"
Z = Decimal(0)


def _d(x: date) -> str:
    return x.strftime("%m/%d/%Y")


def _num(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"


class AzureMonth:
    def __init__(self, company: Company, month: str, out: Path, ledger: Ledger) -> None:
        self.c, self.m, self.ledger, self.out = company, month, ledger, out
        y, mo = (int(x) for x in month.split("-"))
        self.days = pycal.monthrange(y, mo)[1]
        self.first, self.last = date(y, mo, 1), date(y, mo, self.days)
        self.rng = np.random.default_rng([company.seed, 21, y * 12 + mo])
        self.rows: dict[str, list[list[str]]] = {"actual": [], "amortized": []}

    def close(self, *, twice: bool = False, parquet: bool = False) -> None:
        """Deliver the month's rows as export runs (`twice`: an earlier run too)."""
        write_month(
            self.out,
            seed=self.c.seed,
            account=self.c.billing_account_azure,
            month=self.m,
            first=self.first,
            last=self.last,
            header=HEADER,
            rows=self.rows,
            twice=twice,
            parquet=parquet,
        )

    def row(
        self,
        *,
        day: date,
        sub_team: str,
        qty: Decimal,
        price: Decimal,
        actual: Decimal | None,
        amortized: Decimal | None,
        team: str,
        workload: str | None = None,
        egress: str | None = None,
        **cols,
    ) -> None:
        """Write one meter-day to the actual and/or amortized file and book it."""
        t = self.c.team(sub_team)
        base = {
            "BillingAccountId": self.c.billing_account_azure,
            "BillingAccountName": "Acme Neural Labs",
            "BillingPeriodStartDate": _d(self.first),
            "BillingPeriodEndDate": _d(self.last),
            "BillingProfileId": "AB12-CD34-EF5-GH6",
            "BillingProfileName": "Acme Neural Labs US",
            "AccountOwnerId": "",
            "AccountName": "",
            "SubscriptionId": t.azure_subscription,
            "SubscriptionName": f"acme-{sub_team}-prod",
            "Date": _d(day),
            "Quantity": _num(qty),
            "UnitPrice": _num(price),
            "PayGPrice": _num(price),
            "BillingCurrency": "USD",
            "PricingCurrency": "USD",
            "ResourceLocation": "eastus",
            "MeterRegion": "US East",
            "InvoiceSectionId": f"IS-{sub_team.upper()}",
            "InvoiceSectionName": f"Acme {sub_team}",
            "CostCenter": t.cost_center,
            "OfferId": "MS-AZR-0017G",
            "IsAzureCreditEligible": "True",
            "ExchangeRatePricingToBilling": "1",
            "ExchangeRateDate": _d(self.first),
            "ServicePeriodStartDate": _d(self.first),
            "ServicePeriodEndDate": _d(self.last),
            "PaygCostInBillingCurrency": _num(qty * price),
            "PaygCostInUsd": _num(qty * price),
            "ChargeType": "Usage",
            "Frequency": "UsageBased",
            "PublisherType": "Azure",
            "PublisherName": "Microsoft",
            "PricingModel": "OnDemand",
            "Tags": json.dumps(
                {"team": team, **({"workload": workload} if workload else {})},
                separators=(",", ":"),
            ),
            **cols,
        }
        for kind, cost in (("actual", actual), ("amortized", amortized)):
            if cost is None:
                continue
            r = {
                **base,
                "CostInBillingCurrency": _num(cost),
                "CostInPricingCurrency": _num(cost),
                "CostInUsd": _num(cost),
                **cols.get(f"_{kind}", {}),
            }
            if "EffectivePrice" not in r:
                r["EffectivePrice"] = _num(cost / qty) if qty else "0"
            self.rows[kind].append([r.get(h, "") for h in HEADER])
        self.ledger.charge(
            provider=P,
            source=SRC,
            period=self.m,
            billed=actual or Z,
            effective=amortized or Z,
            team=team,
            workload=workload,
            egress=egress,
            lines=int(actual is not None),
        )

    def vm(self, h: GpuHost, state: np.ndarray) -> tuple[Decimal, int]:
        """Daily VM rows; returns the amortized cost and billed hours for commitment sizing."""
        a, _ = self.c.cal.month_hours(self.m)
        billed = billed_mask(h, state)
        od, eff = od_rate(self.c, h, self.m), effective_rate(self.c, h, self.m)
        sub, meter, vcpu = VM_METERS[h.instance_type]
        rg = h.resource_id.split("/resourceGroups/")[1].split("/")[0]
        used = 0
        info = json.dumps(
            {
                "UsageType": "ComputeHR",
                "ImageType": "Canonical",
                "ServiceType": h.instance_type,
                "VMName": h.host,
                "VCPUs": vcpu,
            },
            separators=(",", ":"),
        )
        model = {"on_demand": "OnDemand", "reserved": "Reservation", "savings_plan": "SavingsPlan"}[
            h.pricing
        ]
        benefit = {
            "reserved": (RI_ID, "ND_H100_v5_RI_1yr"),
            "savings_plan": (SP_ID, "Compute_SavingsPlan_ai_serving"),
        }.get(h.pricing)
        for d in range(self.days):
            q = int(billed[a + 24 * d : a + 24 * d + 24].sum())
            if q == 0:
                continue
            used += q
            cols = {
                "ProductName": f"Virtual Machines {sub} - {meter} - US East",
                "PartNumber": "AAH-" + meter.split()[0],
                "MeterId": f"m-{meter}",
                "ServiceFamily": "Compute",
                "MeterCategory": "Virtual Machines",
                "MeterSubCategory": sub,
                "MeterName": meter,
                "UnitOfMeasure": "1 Hour",
                "ConsumedService": "Microsoft.Compute",
                "ResourceId": h.resource_id,
                "ResourceName": h.host,
                "ResourceGroup": rg,
                "AdditionalInfo": info,
                "PricingModel": model,
                "ServiceInfo2": "Canonical",
            }
            if benefit:
                cols.update(
                    benefitId=benefit[0],
                    benefitName=benefit[1],
                    ReservationId=benefit[0].rsplit("/", 1)[1] if h.pricing == "reserved" else "",
                    ReservationName=benefit[1] if h.pricing == "reserved" else "",
                    _actual={"EffectivePrice": "0"},
                    _amortized={"EffectivePrice": _num(eff)},
                )
            qty = Decimal(q)
            day = self.first.replace(day=d + 1)
            actual = od * qty if h.pricing == "on_demand" else Z
            self.row(
                day=day,
                sub_team=h.team,
                qty=qty,
                price=od,
                actual=actual,
                amortized=eff * qty,
                team=h.team,
                workload=h.workload,
                **cols,
            )
        return eff * used, used
