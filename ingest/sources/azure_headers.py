"""Azure cost-details headers: every layout's column names mapped to one canonical set.

Cost Management writes the same concepts under different names: EA legacy (`Cost`,
`Product`), MCA / EA v2 (`CostInBillingCurrency`, `ProductName`), pay-as-you-go usage
(`PreTaxCost`, `UsageDateTime`, `SubscriptionGuid`), camelCase variants, a UTF-8 BOM, and
localized headers that carry the English name in parentheses
(`Kategorie der Verbrauchseinheit (MeterCategory)`). `canonical_header` resolves each to the
names used by ingest/sources/azure.py. In a localized file every column must resolve, because a
column we cannot name might be the cost; in an English file an unknown column is ignored (Azure adds
columns over time) and the cost, date and charge columns are checked for by name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.errors import InputError, did_you_mean

# Canonical name -> other spellings seen in exports (matched case-insensitively).
ALIASES: dict[str, tuple[str, ...]] = {
    "BillingAccountId": ("BillingAccountId",),
    "BillingAccountName": ("BillingAccountName",),
    "BillingPeriodStartDate": ("BillingPeriodStartDate",),
    "BillingPeriodEndDate": ("BillingPeriodEndDate",),
    "BillingProfileId": ("BillingProfileId",),
    "BillingProfileName": ("BillingProfileName",),
    "AccountOwnerId": ("AccountOwnerId",),
    "AccountName": ("AccountName",),
    "SubscriptionId": ("SubscriptionId", "SubscriptionGuid"),
    "SubscriptionName": ("SubscriptionName",),
    "Date": ("Date", "UsageDateTime", "UsageDate"),
    "ProductName": ("ProductName", "Product"),
    "PartNumber": ("PartNumber",),
    "ProductId": ("ProductId",),
    "MeterId": ("MeterId",),
    "ServiceFamily": ("ServiceFamily",),
    "MeterCategory": ("MeterCategory",),
    "MeterSubCategory": ("MeterSubCategory",),
    "MeterRegion": ("MeterRegion",),
    "MeterName": ("MeterName",),
    "Quantity": ("Quantity", "UsageQuantity"),
    "EffectivePrice": ("EffectivePrice",),
    "Cost": ("CostInBillingCurrency", "Cost", "PreTaxCost"),
    "UnitPrice": ("UnitPrice", "ResourceRate"),
    "BillingCurrency": ("BillingCurrency", "BillingCurrencyCode", "Currency"),
    "PricingCurrency": ("PricingCurrency", "PricingCurrencyCode"),
    "ResourceLocation": ("ResourceLocation",),
    "Location": ("Location",),
    "AvailabilityZone": ("AvailabilityZone",),
    "ConsumedService": ("ConsumedService",),
    "ResourceId": ("ResourceId", "InstanceId"),
    "ResourceName": ("ResourceName",),
    "ResourceType": ("ResourceType",),
    "ServiceInfo1": ("ServiceInfo1",),
    "ServiceInfo2": ("ServiceInfo2",),
    "AdditionalInfo": ("AdditionalInfo",),
    "Tags": ("Tags",),
    "InvoiceSectionId": ("InvoiceSectionId",),
    "InvoiceSectionName": ("InvoiceSectionName", "InvoiceSection"),
    "InvoiceId": ("InvoiceId",),
    "CostCenter": ("CostCenter",),
    "UnitOfMeasure": ("UnitOfMeasure",),
    "ResourceGroup": ("ResourceGroup", "ResourceGroupName"),
    "ReservationId": ("ReservationId",),
    "ReservationName": ("ReservationName",),
    "ProductOrderId": ("ProductOrderId",),
    "ProductOrderName": ("ProductOrderName",),
    "OfferId": ("OfferId",),
    "IsAzureCreditEligible": ("IsAzureCreditEligible",),
    "Term": ("Term",),
    "PublisherName": ("PublisherName",),
    "PublisherId": ("PublisherId",),
    "PublisherType": ("PublisherType",),
    "PlanName": ("PlanName",),
    "ChargeType": ("ChargeType",),
    "Frequency": ("Frequency",),
    "PayGPrice": ("PayGPrice",),
    "PricingModel": ("PricingModel",),
    "CostAllocationRuleName": ("CostAllocationRuleName",),
    "BenefitId": ("benefitId",),
    "BenefitName": ("benefitName",),
    "CostInPricingCurrency": ("CostInPricingCurrency",),
    "CostInUsd": ("CostInUsd",),
    "PaygCost": ("PaygCostInBillingCurrency",),
    "PaygCostInUsd": ("PaygCostInUsd",),
    "ExchangeRatePricingToBilling": ("ExchangeRatePricingToBilling",),
    "ExchangeRateDate": ("ExchangeRateDate",),
    "ServicePeriodStartDate": ("ServicePeriodStartDate",),
    "ServicePeriodEndDate": ("ServicePeriodEndDate",),
    "ServiceName": ("ServiceName",),
    "ServiceTier": ("ServiceTier",),
    "PartnerName": ("PartnerName",),
    "ResellerName": ("ResellerName",),
    "ResellerMpnId": ("ResellerMpnId",),
    "CustomerTenantId": ("CustomerTenantId",),
    "CustomerName": ("CustomerName",),
}
_LOOKUP = {alias.lower(): canon for canon, names in ALIASES.items() for alias in names}
_LOCALIZED = re.compile(r"^(?P<local>.*\S)\s*\((?P<english>[A-Za-z0-9_]+)\)$")

# Columns without which a cost-details file cannot be read.
REQUIRED = ("Date", "Cost")
# Names that mark Azure's FOCUS export rather than cost details.
FOCUS_MARKERS = {"billedcost", "chargeperiodstart", "effectivecost"}


@dataclass(frozen=True)
class Header:
    """How one file's header maps: canonical name -> the file's own column name."""

    columns: dict[str, str]
    layout: str  # "ea", "mca", "payg" (which cost column the file carries)
    localized: bool

    def source_name(self, canonical: str) -> str:
        return self.columns.get(canonical, canonical)


def is_focus(names: list[str]) -> bool:
    return {n.lstrip("\ufeff").strip().lower() for n in names} >= FOCUS_MARKERS


def canonical_header(names: list[str], file: str) -> Header:
    """Map a file's header to canonical names; unknown localized columns are errors."""
    cleaned = [n.lstrip("\ufeff").strip() for n in names]
    localized = any(_LOCALIZED.match(n) for n in cleaned)
    columns: dict[str, str] = {}
    for raw, name in zip(names, cleaned, strict=True):
        match = _LOCALIZED.match(name)
        english = match.group("english") if match else name
        canon = _LOOKUP.get(english.lower())
        if canon is None and localized:
            raise InputError(
                f"unknown column {name!r}{did_you_mean(english, list(_LOOKUP))}",
                file=file,
                location=f"header, column {len(columns) + 1}",
                expected="an Azure cost-details column, e.g. 'Kosten (Cost)'",
                found=name,
                hint="export the file again from Cost Management, or rename the column to its "
                "English name",
            )
        if canon is None:
            continue
        if canon in columns:
            raise InputError(
                f"two columns mean {canon}: {columns[canon]!r} and {raw!r}",
                file=file,
                location="header",
                hint="remove one of them",
            )
        columns[canon] = raw
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise InputError(
            "not an Azure cost-details file: missing " + ", ".join(missing),
            file=file,
            location="header",
            expected="Date (or UsageDateTime) and CostInBillingCurrency (or Cost, PreTaxCost)",
            found=", ".join(cleaned[:8]) + (" ..." if len(cleaned) > 8 else ""),
            hint="export 'Cost details' (actual or amortized) from Cost Management",
        )
    cost = next(n for n in names if _LOOKUP.get(_english(n).lower()) == "Cost")
    layout = {"costinbillingcurrency": "mca", "cost": "ea", "pretaxcost": "payg"}[
        _english(cost).lower()
    ]
    return Header(columns, layout, localized)


def _english(name: str) -> str:
    name = name.lstrip("\ufeff").strip()
    match = _LOCALIZED.match(name)
    return match.group("english") if match else name
