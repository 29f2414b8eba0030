"""AWS CUR columns to cost_lines: names, line-item-type rules, service categories, tags, and
`normalise`, the mapping itself.

Every CUR flavour is first renamed to the snake_case names of the Parquet/Athena exports
(`lineItem/UnblendedCost` -> `line_item_unblended_cost`), so one mapping serves legacy CSV,
legacy Parquet and CUR 2.0. `product` and `resource_tags` are MAP columns in CUR 2.0 and
flattened columns in the legacy formats; `attr` and `tags_json` read either.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal

import polars as pl

from ingest.sources.aws_commitments import UNUSED, UNUSED_QUANTITY, with_unused_lines
from ingest.sources.values import money, present, pricing, quantity, timestamp

# lineItem/LineItemType -> (ChargeCategory, ChargeFrequency). Unknown types fall to Adjustment.
LINE_ITEM_TYPES: dict[str, tuple[str, str]] = {
    "Usage": ("Usage", "Usage-Based"),
    "DiscountedUsage": ("Usage", "Usage-Based"),
    "SavingsPlanCoveredUsage": ("Usage", "Usage-Based"),
    "SavingsPlanNegation": ("Usage", "Usage-Based"),
    "SavingsPlanRecurringFee": ("Purchase", "Recurring"),
    "SavingsPlanUpfrontFee": ("Purchase", "One-Time"),
    "RIFee": ("Purchase", "Recurring"),
    "Fee": ("Purchase", "One-Time"),
    "Tax": ("Tax", "One-Time"),
    "Credit": ("Credit", "One-Time"),
    "Refund": ("Credit", "One-Time"),
    "BundledDiscount": ("Adjustment", "One-Time"),
    "EdpDiscount": ("Adjustment", "One-Time"),
    "PrivateRateDiscount": ("Adjustment", "One-Time"),
    "Discount": ("Adjustment", "One-Time"),
    "DistributorDiscount": ("Adjustment", "One-Time"),
}

# line_item_product_code -> (ServiceCategory, ServiceSubcategory); FOCUS 1.2 allowed pairs.
SERVICES: dict[str, tuple[str, str]] = {
    "AmazonEC2": ("Compute", "Virtual Machines"),
    "AmazonLightsail": ("Compute", "Virtual Machines"),
    "AWSLambda": ("Compute", "Serverless Compute"),
    "AmazonECS": ("Compute", "Containers"),
    "AmazonEKS": ("Compute", "Containers"),
    "ComputeSavingsPlans": ("Compute", "Other (Compute)"),
    "AmazonSageMaker": ("AI and Machine Learning", "Machine Learning"),
    "AmazonBedrock": ("AI and Machine Learning", "Generative AI"),
    "AmazonRekognition": ("AI and Machine Learning", "Machine Learning"),
    "AmazonComprehend": ("AI and Machine Learning", "Natural Language Processing"),
    "AmazonS3": ("Storage", "Object Storage"),
    "AmazonS3GlacierDeepArchive": ("Storage", "Backup Storage"),
    "AmazonGlacier": ("Storage", "Backup Storage"),
    "AmazonEFS": ("Storage", "File Storage"),
    "AmazonFSx": ("Storage", "File Storage"),
    "AWSBackup": ("Storage", "Backup Storage"),
    "AWSDataTransfer": ("Networking", "Network Connectivity"),
    "AmazonCloudFront": ("Networking", "Content Delivery"),
    "AmazonVPC": ("Networking", "Network Infrastructure"),
    "AmazonRoute53": ("Networking", "Network Routing"),
    "AWSELB": ("Networking", "Application Networking"),
    "AWSDirectConnect": ("Networking", "Network Connectivity"),
    "AmazonApiGateway": ("Integration", "API Management"),
    "AWSQueueService": ("Integration", "Messaging"),
    "AmazonSNS": ("Integration", "Messaging"),
    "AmazonRDS": ("Databases", "Relational Databases"),
    "AmazonDynamoDB": ("Databases", "NoSQL Databases"),
    "AmazonElastiCache": ("Databases", "Caching"),
    "AmazonRedshift": ("Databases", "Data Warehouses"),
    "AmazonAthena": ("Analytics", "Data Processing"),
    "AWSGlue": ("Analytics", "Data Processing"),
    "AmazonKinesis": ("Analytics", "Streaming Analytics"),
    "AmazonES": ("Analytics", "Search"),
    "AmazonCloudWatch": ("Management and Governance", "Observability"),
    "AWSCloudTrail": ("Management and Governance", "Compliance"),
    "AWSConfig": ("Management and Governance", "Compliance"),
    "AWSCostExplorer": ("Management and Governance", "Cost Management"),
    "AWSSupportBusiness": ("Management and Governance", "Support"),
    "AWSSupportEnterprise": ("Management and Governance", "Support"),
    "awskms": ("Security", "Secret Management"),
    "AWSSecretsManager": ("Security", "Secret Management"),
    "AmazonGuardDuty": ("Security", "Threat Detection and Response"),
    "AWSIAM": ("Identity", "Identity and Access Management"),
    "AmazonCognito": ("Identity", "Identity and Access Management"),
}

# GPU and accelerator instance types inside a usage type (formats.md §4.1).
INSTANCE_IN_USAGE = r"(?:^|:|ml\.)((?:[a-z][a-z0-9-]*)\.[0-9a-z]+)$"

# Commitment purchase lines: billed on the invoice, EffectiveCost 0 (FOCUS 1.2).
COMMITMENT_FEES = ("SavingsPlanRecurringFee", "SavingsPlanUpfrontFee", "RIFee")

MARKETPLACE = "AWS Marketplace"
ISSUER = "Amazon Web Services, Inc."
# ProviderName and InvoiceIssuerName: the same name for the same company, as AWS's own FOCUS
# export writes them. FOCUS reads a differing issuer as a third party collecting the payment
# (BilledCost-C-005-C: BilledCost 0), which AWS's invoicing entities (Amazon Web Services, Inc.,
# ... EMEA SARL, AWS Marketplace sales) are not.
PROVIDER = "AWS"
# Commitment fees the CUR counts in hours (line_item_usage_amount) but leaves without a unit.
FEE_UNITS = {"RIFee": "Hrs", "SavingsPlanRecurringFee": "Hrs"}


def snake(name: str) -> str:
    """`lineItem/UnblendedCost` -> `line_item_unblended_cost` (how Athena/CUR Parquet name it)."""
    return "_".join(re.sub(r"(?<!^)(?=[A-Z])", "_", part).lower() for part in name.split("/"))


def tag_key(column: str) -> str | None:
    """Plain tag key of a legacy tag column, or None if the column is not a tag."""
    if column.startswith("resourceTags/"):
        return column.removeprefix("resourceTags/").removeprefix("user:")
    if column.startswith("resource_tags_"):
        return column.removeprefix("resource_tags_").removeprefix("user_")
    return None


def json_text(expr: pl.Expr) -> pl.Expr:
    """A string expression as a JSON string literal (escaped by polars' own encoder)."""
    return pl.struct(expr.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")


def tags_from_columns(columns: dict[str, str]) -> pl.Expr:
    """JSON object text from legacy per-key tag columns {column: key}; null when no tag set."""
    if not columns:
        return pl.lit(None, dtype=pl.String)
    parts = [
        pl.when(pl.col(c).is_not_null() & (pl.col(c) != "")).then(
            pl.concat_str(pl.lit(json.dumps(k) + ":"), json_text(pl.col(c)))
        )
        for c, k in columns.items()
    ]
    body = pl.concat_str(parts, separator=",", ignore_nulls=True)
    return pl.when(body.is_not_null() & (body != "")).then(
        pl.concat_str(pl.lit("{"), body, pl.lit("}"))
    )


def tags_from_map(column: str) -> pl.Expr:
    """JSON object text from a CUR 2.0 MAP column; `user_` prefixes dropped."""
    entry = pl.element()
    key, value = entry.struct.field("key"), entry.struct.field("value")
    body = (
        pl.col(column)
        .map.entries()
        .list.eval(
            pl.concat_str(
                json_text(key.str.strip_prefix("user_")), pl.lit(":"), json_text(value)
            ).filter(value.is_not_null() & (value != ""))
        )
        .list.join(",")
    )
    return pl.when(body.is_not_null() & (body != "")).then(
        pl.concat_str(pl.lit("{"), body, pl.lit("}"))
    )


def charge(line_type: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    category = line_type.replace_strict(
        {k: v[0] for k, v in LINE_ITEM_TYPES.items()}, default="Adjustment", return_dtype=pl.String
    )
    frequency = line_type.replace_strict(
        {k: v[1] for k, v in LINE_ITEM_TYPES.items()}, default="One-Time", return_dtype=pl.String
    )
    return category, frequency


def service(code: pl.Expr, marketplace: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(ServiceCategory, ServiceSubcategory); Marketplace software counts as Other."""
    cat = code.replace_strict({k: v[0] for k, v in SERVICES.items()}, default="Other")
    sub = code.replace_strict({k: v[1] for k, v in SERVICES.items()}, default="Other (Other)")
    return (
        pl.when(marketplace).then(pl.lit("Other")).otherwise(cat),
        pl.when(marketplace).then(pl.lit("Other (Other)")).otherwise(sub),
    )


def source_column(schema: pl.Schema, name: str, kind: str = "text") -> pl.Expr:
    if name not in schema:
        if kind == "text":
            return pl.lit(None, dtype=pl.String)
        return pl.lit(None, dtype=pl.Decimal(38, 12))
    expr = pl.col(name)
    if kind == "text":
        return expr if schema[name] == pl.String else expr.cast(pl.String)
    return (
        quantity(expr, schema[name])
        if schema[name] != pl.String
        else expr.str.strip_chars().str.to_decimal(scale=12)
    )


def _attr(schema: pl.Schema, key: str) -> pl.Expr:
    """A product attribute: flattened `product_<key>` or CUR 2.0 `product['<key>']`."""
    options = []
    if f"product_{key}" in schema:
        options.append(source_column(schema, f"product_{key}"))
    if "product" in schema and isinstance(schema["product"], pl.Map):
        options.append(pl.col("product").map.get(key))
    return pl.coalesce(options) if options else pl.lit(None, dtype=pl.String)


def normalise(
    frame: pl.LazyFrame,
    tags: dict[str, str],
    display: str,
    covered: Mapping[str, str] | None = None,
) -> pl.LazyFrame:
    """CUR lines (snake_case names) as cost_lines columns (without the store's x_ ids).

    Each commitment fee line with an unused part is followed by its Unused line
    (ingest/sources/aws_commitments.py); `covered` maps a Savings Plan ARN to the one instance type
    it covered in the period, which its Unused line carries.
    """
    s = frame.collect_schema()
    frame, tag_text = _with_map_tags(frame, s)
    lines = frame.select(*expressions(s, tags, display, tag_text), *unused_inputs(s))
    return with_unused_lines(lines, covered or {})


MAP_TAGS = "_map_tags"  # the JSON of a CUR 2.0 resource_tags MAP, made once per distinct map


def _with_map_tags(frame: pl.LazyFrame, s: pl.Schema) -> tuple[pl.LazyFrame, pl.Expr | None]:
    """`frame` with the JSON text of each CUR 2.0 tag map, encoded once per distinct map
    (lines of one resource share their tags; encoding every line's map was most of the
    normalisation). Maps are told apart by two independently seeded 64-bit hashes."""
    if not ("resource_tags" in s and isinstance(s["resource_tags"], pl.Map)):
        return frame, None
    column = pl.col("resource_tags")
    keys = ["_tags_h1", "_tags_h2"]
    hashed = frame.select(
        column, column.hash(seed=1).alias(keys[0]), column.hash(seed=2).alias(keys[1])
    )
    distinct = (
        hashed.group_by(keys)
        .agg(column.first())
        .select(*keys, tags_from_map("resource_tags").alias(MAP_TAGS))
    )
    # Only the keys are joined (joining the lines would copy every column).
    text = hashed.select(keys).join(distinct, on=keys, how="left", maintain_order="left")
    joined = pl.concat([frame, text.select(MAP_TAGS)], how="horizontal")
    return joined, pl.col(MAP_TAGS)


def needed_columns(s: pl.Schema, tags: dict[str, str]) -> list[str]:
    """The source columns `normalise` reads: a reader decodes only these (a CUR has ~100)."""
    exprs = [*expressions(s, tags, ""), *unused_inputs(s)]
    used = {n for e in exprs for n in e.meta.root_names()}
    return [n for n in s.names() if n in used]


def expressions(
    s: pl.Schema, tags: dict[str, str], display: str, tag_text: pl.Expr | None = None
) -> list[pl.Expr]:
    """The cost_lines columns as expressions over CUR columns of schema `s` (`tag_text`: the
    Tags JSON when already made, see `_with_map_tags`)."""

    def src(name: str, kind: str = "text") -> pl.Expr:
        return source_column(s, name, kind)

    kind = pl.col("line_item_line_item_type")
    unblended = money(pl.col("line_item_unblended_cost"), s["line_item_unblended_cost"])
    zero = pl.lit(Decimal(0), dtype=pl.Decimal(38, 12))

    def dec(name: str) -> pl.Expr:
        return pl.coalesce(src(name, "money"), zero)

    effective = (
        pl.when(kind == "SavingsPlanCoveredUsage")
        .then(dec("savings_plan_savings_plan_effective_cost"))
        .when(kind == "DiscountedUsage")
        .then(dec("reservation_effective_cost"))
        # Fees are amortised onto covered usage; their unused part is an Unused line.
        .when(kind.is_in(["SavingsPlanNegation", *COMMITMENT_FEES]))
        .then(zero)
        .otherwise(unblended)
    )
    category, frequency = charge(kind)
    entity = src("bill_billing_entity")
    marketplace = (entity == MARKETPLACE).fill_null(False)
    code = src("line_item_product_code")
    svc_cat, svc_sub = service(code, marketplace)
    sp_arn = src("savings_plan_savings_plan_a_r_n")
    ri_arn = src("reservation_reservation_a_r_n")
    is_sp = kind.is_in(
        ["SavingsPlanCoveredUsage", "SavingsPlanRecurringFee", "SavingsPlanUpfrontFee"]
    )
    is_ri = kind.is_in(["DiscountedUsage", "RIFee"])
    commitment = pl.when(is_sp).then(sp_arn).when(is_ri).then(ri_arn)
    usage_type = src("line_item_usage_type")
    tax = kind == "Tax"
    instance = pl.coalesce(_attr(s, "instance_type"), usage_type.str.extract(INSTANCE_IN_USAGE, 1))
    priced_quantity, priced_unit = pricing(
        src("line_item_usage_amount", "money"),
        pl.coalesce(present(src("pricing_unit")), kind.replace_strict(FEE_UNITS, default=None)),
    )
    tag_expr = (
        tag_text
        if tag_text is not None
        else tags_from_map("resource_tags")
        if "resource_tags" in s and isinstance(s["resource_tags"], pl.Map)
        else tags_from_columns(tags)
    )
    return [
        src("line_item_availability_zone").alias("AvailabilityZone"),
        unblended.alias("BilledCost"),
        src("bill_payer_account_id").alias("BillingAccountId"),
        src("bill_payer_account_name").alias("BillingAccountName"),
        src("line_item_currency_code").alias("BillingCurrency"),
        timestamp(pl.col("bill_billing_period_end_date"), s["bill_billing_period_end_date"]).alias(
            "BillingPeriodEnd"
        ),
        timestamp(
            pl.col("bill_billing_period_start_date"), s["bill_billing_period_start_date"]
        ).alias("BillingPeriodStart"),
        category.alias("ChargeCategory"),
        pl.coalesce(src("line_item_line_item_description"), usage_type, kind).alias(
            "ChargeDescription"
        ),
        frequency.alias("ChargeFrequency"),
        timestamp(pl.col("line_item_usage_end_date"), s["line_item_usage_end_date"]).alias(
            "ChargePeriodEnd"
        ),
        timestamp(pl.col("line_item_usage_start_date"), s["line_item_usage_start_date"]).alias(
            "ChargePeriodStart"
        ),
        pl.when(is_sp & commitment.is_not_null())
        .then(pl.lit("Spend"))
        .when(is_ri & commitment.is_not_null())
        .then(pl.lit("Usage"))
        .alias("CommitmentDiscountCategory"),
        commitment.alias("CommitmentDiscountId"),
        pl.when(commitment.is_not_null() & (category == "Usage"))
        .then(pl.lit("Used"))
        .alias("CommitmentDiscountStatus"),
        pl.when(is_sp & commitment.is_not_null())
        .then(pl.lit("Savings Plan"))
        .when(is_ri & commitment.is_not_null())
        .then(pl.lit("Reserved Instance"))
        .alias("CommitmentDiscountType"),
        pl.when(category == "Usage")
        .then(src("line_item_usage_amount", "money"))
        .alias("ConsumedQuantity"),
        pl.when(category == "Usage").then(src("pricing_unit")).alias("ConsumedUnit"),
        unblended.alias("ContractedCost"),
        effective.alias("EffectiveCost"),
        src("bill_invoice_id").alias("InvoiceId"),
        pl.lit(PROVIDER).alias("InvoiceIssuerName"),
        pl.coalesce(src("pricing_public_on_demand_cost", "money"), unblended).alias("ListCost"),
        pl.when(~tax).then(priced_quantity).alias("PricingQuantity"),
        pl.when(~tax).then(priced_unit).alias("PricingUnit"),
        pl.when(tax)
        .then(None)
        .when(usage_type.str.contains("SpotUsage").fill_null(False))
        .then(pl.lit("Dynamic"))
        .when(kind.is_in(["SavingsPlanCoveredUsage", "DiscountedUsage"]))
        .then(pl.lit("Committed"))
        .otherwise(pl.lit("Standard"))
        .alias("PricingCategory"),
        pl.lit(PROVIDER).alias("ProviderName"),
        pl.when(marketplace)
        .then(pl.coalesce(src("line_item_legal_entity"), pl.lit(MARKETPLACE)))
        .otherwise(pl.lit(ISSUER))
        .alias("PublisherName"),
        _attr(s, "region_code").alias("RegionId"),
        _attr(s, "location").alias("RegionName"),
        src("line_item_resource_id").alias("ResourceId"),
        svc_cat.alias("ServiceCategory"),
        pl.coalesce(_attr(s, "product_name"), _attr(s, "servicename"), code).alias("ServiceName"),
        svc_sub.alias("ServiceSubcategory"),
        _attr(s, "sku").alias("SkuId"),
        src("pricing_rate_id").alias("SkuPriceId"),
        src("line_item_usage_account_id").alias("SubAccountId"),
        src("line_item_usage_account_name").alias("SubAccountName"),
        tag_expr.alias("Tags"),
        pl.lit(display).alias("x_SourceFile"),
        usage_type.alias("x_UsageType"),
        src("line_item_operation").alias("x_Operation"),
        code.alias("x_ServiceCode"),
        instance.alias("x_InstanceType"),
        _attr(s, "gpu").cast(pl.Int64, strict=False).alias("x_GpuCount"),
        marketplace.alias("x_Marketplace"),
    ]


def unused_inputs(s: pl.Schema) -> list[pl.Expr]:
    """The unused part of each commitment fee line (amount, quantity); null on other lines.

    Savings Plan: commitment to date minus the commitment used; RI: the unused amortised
    upfront fee plus the unused recurring fee (formats.md §4.1), quantity in reserved hours.
    """
    kind = pl.col("line_item_line_item_type")
    zero = pl.lit(Decimal(0), dtype=pl.Decimal(38, 12))

    def dec(name: str) -> pl.Expr:
        return pl.coalesce(source_column(s, name, "money"), zero)

    sp = dec("savings_plan_total_commitment_to_date") - dec("savings_plan_used_commitment")
    ri = dec("reservation_unused_amortized_upfront_fee_for_billing_period") + dec(
        "reservation_unused_recurring_fee"
    )
    return [
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(sp)
        .when(kind == "RIFee")
        .then(ri)
        .alias(UNUSED),
        pl.when(kind == "SavingsPlanRecurringFee")
        .then(sp)
        .when(kind == "RIFee")
        .then(source_column(s, "reservation_unused_quantity", "money"))
        .alias(UNUSED_QUANTITY),
    ]


def covered_instance_types(frame: pl.LazyFrame) -> pl.DataFrame:
    """(Savings Plan ARN, instance type, covered on-demand cost) of the file's covered usage."""
    s = frame.collect_schema()
    empty = {"arn": pl.String, "itype": pl.String, "cost": pl.Decimal(38, 12)}
    if "savings_plan_savings_plan_a_r_n" not in s:
        return pl.DataFrame(schema=empty)
    usage_type = source_column(s, "line_item_usage_type")
    return (
        frame.filter(pl.col("line_item_line_item_type") == "SavingsPlanCoveredUsage")
        .select(
            source_column(s, "savings_plan_savings_plan_a_r_n").alias("arn"),
            pl.coalesce(
                _attr(s, "instance_type"), usage_type.str.extract(INSTANCE_IN_USAGE, 1)
            ).alias("itype"),
            money(pl.col("line_item_unblended_cost"), s["line_item_unblended_cost"]).alias("cost"),
        )
        .drop_nulls(["arn", "itype"])
        .group_by("arn", "itype")
        .agg(pl.col("cost").sum())
        .collect()
    )


def plan_instance_types(pairs: list[pl.DataFrame]) -> dict[str, str]:
    """Savings Plan ARN -> the instance type it covered most of in the period (by on-demand
    cost; ties by name). A plan's unused part is attributed there, so a plan bought for p5
    GPUs that now and then covered an m5 stays a GPU commitment."""
    if not pairs:
        return {}
    found = (
        pl.concat(pairs)
        .group_by("arn", "itype")
        .agg(pl.col("cost").sum())
        .sort(["arn", "cost", "itype"], descending=[False, True, False])
        .group_by("arn", maintain_order=True)
        .agg(pl.col("itype").first())
    )
    return dict(found.iter_rows())
