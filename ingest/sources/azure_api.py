"""Cost Management Query API: daily actual cost by resource and meter for a scope and month.

The request is what the portal's cost analysis sends (`POST {scope}/providers/
Microsoft.CostManagement/query`, type ActualCost, daily granularity, grouped by ResourceId and
Meter); pages are followed through `nextLink`'s `$skiptoken`. Amounts are read from the raw
JSON as Decimal, so the lines and the source total are exact. The API aggregates, so lines
are (day, resource, meter) and every line is ChargeCategory Usage: purchases and refunds need
the cost-details export (ingest/sources/azure.py). Credentials: DefaultAzureCredential only.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import polars as pl

from ingest.sources import azure_catalog as catalog
from ingest.sources.azure_blob import CHAIN, quiet_identity_log
from ingest.warehouse.billing_period import month_bounds
from ingest.warehouse.load_contract import PeriodLoad, SourceFile
from models.errors import InputError, SourceUnavailableError
from models.schema import MONEY
from models.settings import AzureSourceSettings

SOURCE = "azure-cost-api"
PROVIDER = "Microsoft"
_SCOPE = re.compile(
    r"^/(?:subscriptions/(?P<sub>[0-9a-fA-F-]{36})(?:/resourceGroups/[^/]+)?"
    r"|providers/Microsoft\.Billing/billingAccounts/(?P<ba>[^/]+)"
    r"(?:/billingProfiles/[^/]+(?:/invoiceSections/[^/]+)?)?"
    r"|providers/Microsoft\.Management/managementGroups/(?P<mg>[^/]+))$"
)
MAX_PAGES = 10_000
SCALE = Decimal("1e-12")
ARM_SCOPE = "https://management.azure.com/.default"


def account_of(scope: str) -> str:
    """The billing account a scope belongs to (its id, or the subscription/group id)."""
    match = _SCOPE.match(scope or "")
    if not match:
        raise InputError(
            "not a Cost Management scope",
            location="--scope",
            expected="/subscriptions/<id>, /providers/Microsoft.Billing/billingAccounts/<id> "
            "or /providers/Microsoft.Management/managementGroups/<id>",
            found=repr(scope),
        )
    return match["ba"] or match["sub"] or match["mg"]


def query_definition(month: str) -> dict:
    start, end = month_bounds(month)
    last = end - timedelta(seconds=1)
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {"from": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "to": last.strftime("%Y-%m-%dT%H:%M:%SZ")},
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": "ResourceId"},
                         {"type": "Dimension", "name": "Meter"}],
        },
    }  # fmt: skip


def fetch(scope: str, month: str, settings: AzureSourceSettings) -> tuple[list[str], list[list]]:
    """Every page of the query's answer: (column names, rows) with amounts as Decimal."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
    )
    from azure.identity import CredentialUnavailableError, DefaultAzureCredential
    from azure.mgmt.costmanagement import CostManagementClient

    quiet_identity_log()
    kwargs = {"base_url": settings.management_endpoint} if settings.management_endpoint else {}
    credential = DefaultAzureCredential()
    body = json.dumps(query_definition(month)).encode()
    columns: list[str] | None = None
    rows: list[list] = []
    params: dict[str, str] = {}
    where = f"{scope} {month}"
    try:
        credential.get_token(ARM_SCOPE)  # fail fast, before the client's retries
        client = CostManagementClient(credential, **kwargs)
        for _ in range(MAX_PAGES):
            text = client.query.usage(
                scope.lstrip("/"),
                body,
                content_type="application/json",
                params=params,
                cls=lambda response, _d, _h: response.http_response.text(),
            )
            page = _page(text, where)
            names = [c["name"] for c in page["columns"]]
            if columns is None:
                columns = names
            elif names != columns:
                raise InputError("pages of one answer have different columns", file=where)
            rows.extend(page["rows"])
            token = _skiptoken(page.get("nextLink"))
            if token is None:
                break
            params = {"$skiptoken": token}
    except (ClientAuthenticationError, CredentialUnavailableError) as exc:
        raise SourceUnavailableError(
            "Cost Management refused the credentials, or none were found",
            file=where,
            expected="a credential with Cost Management Reader on the scope",
            found=str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
            hint=f"tried {CHAIN}; sign in (az login) or use a managed identity",
        ) from None
    except ServiceRequestError as exc:
        raise SourceUnavailableError(
            f"cannot reach Cost Management: {str(exc).splitlines()[0]}",
            file=where,
            hint="check the network; retrying may help",
            retryable=True,
        ) from None
    except HttpResponseError as exc:
        raise SourceUnavailableError(
            f"Cost Management answered {exc.status_code}: {exc.message.splitlines()[0]}",
            file=where,
            hint="429 and 5xx are temporary: retry later"
            if exc.status_code in (429, 503)
            else "check the scope and your role on it",
            retryable=exc.status_code in (429, 500, 502, 503, 504),
        ) from None
    return columns or [], rows


def _page(text: str, where: str) -> dict:
    try:
        doc = json.loads(text, parse_float=Decimal, parse_int=Decimal)
        props = doc["properties"]
        if not isinstance(props["columns"], list) or not isinstance(props["rows"], list):
            raise TypeError
        return props
    except (ValueError, KeyError, TypeError):
        raise InputError(
            "the Query API answer is not a query result",
            file=where,
            expected='{"properties": {"columns": [...], "rows": [...]}}',
            found=text[:120],
        ) from None


def _skiptoken(link: str | None) -> str | None:
    if not link:
        return None
    values = parse_qs(urlparse(link).query).get("$skiptoken")
    return values[0] if values else None


NEEDED = ("Cost", "UsageDate", "ResourceId", "Meter", "Currency")


def period_loads(
    scope: str, month: str, columns: list[str], rows: list[list], label: str
) -> list[PeriodLoad]:
    """The month's lines from the query answer (one load: one account, month, currency)."""
    account = account_of(scope)
    missing = [c for c in NEEDED if c not in columns]
    if missing:
        raise InputError(
            "the Query API answer lacks columns: " + ", ".join(missing),
            file=label,
            expected=", ".join(NEEDED),
            found=", ".join(columns),
        )
    idx = {c: columns.index(c) for c in NEEDED}
    start, _ = month_bounds(month)
    costs, days, rids, meters, currencies = [], [], [], [], []
    for n, row in enumerate(rows, start=1):
        cost, day = row[idx["Cost"]], row[idx["UsageDate"]]
        if not isinstance(cost, Decimal):
            raise InputError("a row without a numeric Cost", file=label, location=f"row {n}",
                             expected="a number", found=repr(cost))  # fmt: skip
        try:
            when = datetime.strptime(str(int(day)), "%Y%m%d").replace(tzinfo=UTC)
        except (TypeError, ValueError):
            raise InputError("a row without a usable UsageDate", file=label, location=f"row {n}",
                             expected="YYYYMMDD", found=repr(day)) from None  # fmt: skip
        if when.strftime("%Y-%m") != month:
            raise InputError(
                "a row outside the month asked for",
                file=label,
                location=f"row {n}",
                expected=month,
                found=f"{when:%Y-%m-%d}",
            )
        costs.append(str(cost))
        days.append(when)
        rids.append(row[idx["ResourceId"]] or None)
        meters.append(row[idx["Meter"]] or None)
        currencies.append(row[idx["Currency"]])
    if not rows:
        return []
    if len(set(currencies)) > 1:
        raise InputError("more than one currency in one month", file=label,
                         found=", ".join(sorted(set(map(str, currencies)))))  # fmt: skip
    # Each amount at scale 12 (half-even), then summed: what the stored lines add up to.
    total = sum((Decimal(c).quantize(SCALE) for c in costs), Decimal(0))
    frame = pl.LazyFrame(
        {"_cost": costs, "_day": days, "_rid": rids, "_meter": meters},
        schema={"_cost": pl.String, "_day": pl.Datetime("us", "UTC"), "_rid": pl.String,
                "_meter": pl.String},
    )  # fmt: skip
    provider_ns = pl.col("_rid").str.to_lowercase().str.extract(r"/providers/([^/]+)")
    lines = (
        frame.with_columns(
            pl.col("_cost").str.to_decimal(scale=12).cast(MONEY).alias("_money"),
            provider_ns.alias("_cons_key"),
        )
        .join(catalog.consumed_table().lazy(), on="_cons_key", how="left")
        .select(
            pl.col("_money").alias("BilledCost"),
            pl.col("_money").alias("EffectiveCost"),
            pl.col("_money").alias("ListCost"),
            pl.col("_money").alias("ContractedCost"),
            pl.lit(account).alias("BillingAccountId"),
            pl.lit(currencies[0]).alias("BillingCurrency"),
            pl.lit(start).alias("BillingPeriodStart"),
            pl.lit(month_bounds(month)[1]).alias("BillingPeriodEnd"),
            pl.col("_day").alias("ChargePeriodStart"),
            pl.col("_day").dt.offset_by("1d").alias("ChargePeriodEnd"),
            pl.lit("Usage").alias("ChargeCategory"),
            pl.lit("Usage-Based").alias("ChargeFrequency"),
            pl.col("_meter").alias("ChargeDescription"),
            pl.lit(PROVIDER).alias("InvoiceIssuerName"),
            pl.lit(PROVIDER).alias("ProviderName"),
            pl.lit(PROVIDER).alias("PublisherName"),
            pl.col("_rid").str.to_lowercase().alias("ResourceId"),
            pl.col("_rid").str.extract(r"/([^/]+)$").alias("ResourceName"),
            pl.col("_rid")
            .str.to_lowercase()
            .str.extract(r"/providers/([^/]+/[^/]+)")
            .alias("ResourceType"),
            pl.coalesce("_cons_cat", pl.lit(catalog.OTHER[0])).alias("ServiceCategory"),
            pl.coalesce(provider_ns, pl.lit("Azure")).alias("ServiceName"),
            pl.coalesce("_cons_sub", pl.lit(catalog.OTHER[1])).alias("ServiceSubcategory"),
            pl.col("_meter").alias("SkuMeter"),
            pl.col("_rid").str.extract(r"(?i)^/subscriptions/([^/]+)").alias("SubAccountId"),
            pl.col("_meter").alias("x_UsageType"),
            pl.lit(label).alias("x_SourceFile"),
        )
    )
    # The answer's content stands in for a file digest, so an unchanged answer commits nothing.
    content = json.dumps([columns, rows], default=str, separators=(",", ":")).encode()
    answer = SourceFile(label, hashlib.sha256(content).hexdigest(), len(content))
    return [
        PeriodLoad(
            source=SOURCE,
            billing_account=account,
            billing_period=month,
            currency=str(currencies[0]),
            files=[answer],
            lines=lines,
            source_total=total,
            label=label,
        )
    ]
