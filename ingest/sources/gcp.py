"""GCP BigQuery billing export (standard and detailed schemas) -> cost_lines.

Files: newline-delimited JSON and Parquet as BigQuery exports them (nested `service`,
`credits`, `labels` ...), and CSV dumps with dotted column names where `labels` and `credits`
are text (JSON, or Python-repr lists as some tools write them). ingest/sources/bigquery.py pages a
query's result to a Parquet file and reads it here, so both paths share one conversion.
The rows are typed and checked in ingest/sources/gcp_checks.py; the export's vocabularies
(cost types, CUD credit and fee SKUs, services, GPU SKUs and machines) are in
ingest/sources/gcp_catalog.py.

Rules. `invoice.month` decides the billing period. Each credit becomes its own FOCUS line
with ChargeCategory "Credit" (BilledCost = EffectiveCost = the credit amount), so a period's
sum(BilledCost) is sum(cost) + sum(credits.amount), which is what it reconciles against.
Committed-use-discount credits and CUD fee SKUs ("Commitment v1: ...", "Commitment - dollar
based ...") carry the CommitmentDiscount* columns (resource CUD = Usage, spend CUD = Spend).

Resource CUDs as FOCUS 1.2 models commitments (ingest/sources/gcp_commitments.py, as
ingest/sources/aws_commitments.py does for AWS): per commitment (the fee's resource, which the CUD
credits name by id) and invoice month, the rate of each resource (GPU, Core, Ram) is fee cost / fee
quantity. The fee line is a Purchase with EffectiveCost 0; a usage line with the CUD's credit is
"Used" and its EffectiveCost is its cost net of that credit plus the covered quantity (its quantity
x the credited share of its cost) at the rate, the credit line's EffectiveCost is 0; what the fee
paid for and no usage used is one Unused line (BilledCost 0) carrying the covered machine type. So
per month sum(EffectiveCost) = sum(BilledCost). A credit whose commitment has no fee in the month
keeps its old amortisation (BilledCost = EffectiveCost). A line the CUD credits only in part is not
split: its uncovered remainder stays in its Used line's EffectiveCost.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import NoReturn

import polars as pl

from ingest.sources.gcp_catalog import (
    COST_TYPES,
    CUD_CREDITS,
    CUD_FEE,
)
from ingest.sources.gcp_checks import broken, check, money_sums, survey, typed
from ingest.sources.gcp_commitments import (
    RESOURCE_CUD_CREDIT,
    combine_used,
    cud_rates,
    unused_lines,
    used_by_commitment,
    with_cud_credit,
    with_cud_shares,
)
from ingest.sources.gcp_export import ExportFile, flat, parquet_batches
from ingest.sources.gcp_rules import machine_rules, service_rules, sku_rules
from ingest.sources.values import per_list, per_value, present, pricing
from ingest.warehouse.load_contract import CHUNK_ROWS, PeriodLoad, SourceFile
from models.errors import InputError

SOURCE = "gcp-bq"
PROVIDER = "Google Cloud"
MONEY = pl.Decimal(38, 12)
Pieces = Callable[[], Iterator[pl.DataFrame]]


# ---- FOCUS conversion ---------------------------------------------------------------------


def _labels_json(name: str) -> pl.Expr:
    def esc(e: pl.Expr) -> pl.Expr:
        return (
            e.fill_null("")
            .str.replace_all("\\", "\\\\", literal=True)
            .str.replace_all('"', '\\"', literal=True)
        )

    pairs = pl.col(name).list.eval(
        pl.concat_str(
            pl.lit('"'), esc(pl.element().struct.field("key")), pl.lit('":"'),
            esc(pl.element().struct.field("value")), pl.lit('"'),
        )
    )  # fmt: skip
    return (
        pl.when(pl.col(name).list.len() > 0)
        .then(pl.concat_str(pl.lit("{"), pairs.list.join(","), pl.lit("}")))
        .otherwise(None)
    )


def _system_label(key: str) -> pl.Expr:
    return (
        pl.col("system_labels")
        .list.eval(
            pl.element().filter(pl.element().struct.field("key") == key).struct.field("value")
        )
        .list.first()
    )


def _prepared(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Typed rows with what the commitment rules read: the resource a CUD fee SKU commits,
    whether the row is a resource CUD fee, the machine type, the row's CUD credit (and the
    other SKU rules of `gcp_rules.sku_rules`)."""
    return with_cud_credit(
        frame.with_columns(
            per_value("sku.description", sku_rules(), "_by_sku"),
            _system_label("compute.googleapis.com/machine_spec").alias("_machine"),
        )
        .with_columns(per_value("_machine", machine_rules(), "_by_machine"))
        .unnest("_by_sku", "_by_machine")
    )


def _base(prepared: pl.LazyFrame, rates: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
    """`_prepared` rows with their CUD shares and the values several cost-line columns use."""
    return (
        with_cud_shares(prepared, rates)
        .with_columns(per_value("service.description", service_rules(), "_by_service"))
        .unnest("_by_service")
    ).with_columns(
        pl.coalesce("_gpu_sku", "_machine_gpu").alias("_gpu_model"),
        per_list("labels", _labels_json("labels"), pl.String).alias("_tags"),
    )


def to_cost_lines(frame: pl.LazyFrame, display: list[str]) -> pl.LazyFrame:
    """Usage/fee lines plus one Credit line per credit, plus the Unused CUD lines (one
    invoice month of typed rows, whole)."""
    prepared = _prepared(frame)
    base = _base(prepared, cud_rates(prepared.filter(pl.col("_resource_fee"))))
    fee_base = base.filter(pl.col("_resource_fee"))
    unused = unused_lines(fee_base, _usage(fee_base, display), used_by_commitment(base))
    return pl.concat(
        [_usage(base, display), _credits(base, display), unused], how="vertical_relaxed"
    )


def _common(display: list[str]) -> list[pl.Expr]:
    """The columns a usage line and its credit lines share."""
    marketplace = pl.col("transaction_type").is_in(["THIRD_PARTY_RESELLER", "THIRD_PARTY_AGENCY"])
    period = pl.col("_period").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    return [
        pl.col("billing_account_id").alias("BillingAccountId"),
        pl.col("currency").alias("BillingCurrency"),
        period.dt.offset_by("1mo").alias("BillingPeriodEnd"),
        period.alias("BillingPeriodStart"),
        pl.col("_end").alias("ChargePeriodEnd"),
        pl.col("_start").alias("ChargePeriodStart"),
        pl.lit(PROVIDER).alias("InvoiceIssuerName"),
        pl.lit(PROVIDER).alias("ProviderName"),
        pl.coalesce(pl.when(marketplace).then(pl.col("seller_name")), pl.lit(PROVIDER)).alias(
            "PublisherName"
        ),
        pl.col("location.region").alias("RegionId"),
        pl.col("location.region").alias("RegionName"),
        pl.col("location.zone").alias("AvailabilityZone"),
        pl.coalesce("resource.global_name", "resource.name").alias("ResourceId"),
        pl.col("resource.name").alias("ResourceName"),
        pl.col("_svc_cat").alias("ServiceCategory"),
        pl.coalesce("service.description", pl.lit("Google Cloud")).alias("ServiceName"),
        pl.col("_svc_sub").alias("ServiceSubcategory"),
        pl.col("sku.id").alias("SkuId"),
        pl.col("sku.description").alias("SkuMeter"),
        pl.col("project.id").alias("SubAccountId"),
        pl.col("project.name").alias("SubAccountName"),
        pl.when(pl.col("project.id").is_not_null()).then(pl.lit("Project")).alias("SubAccountType"),
        pl.col("_tags").alias("Tags"),
        pl.col("_file")
        .replace_strict(list(range(len(display))), display, return_dtype=pl.String)
        .alias("x_SourceFile"),
        pl.col("service.id").alias("x_ServiceCode"),
        pl.col("service.description").alias("x_SkuMeterCategory"),
        pl.col("sku.description").alias("x_SkuMeterSubcategory"),
        pl.col("_machine").alias("x_InstanceType"),
        marketplace.fill_null(False).alias("x_Marketplace"),
    ]


def _usage(base: pl.LazyFrame, display: list[str]) -> pl.LazyFrame:
    """One cost line per usage, fee, tax or adjustment row."""
    sku = pl.col("sku.description")
    cud_fee = pl.col("_cud_fee")
    spend_fee = pl.col("_spend_fee")
    category = pl.col("_ctype").replace_strict(COST_TYPES, default=None)
    # Adjustment and rounding rows come without a SKU: "Compute Engine rounding error".
    description = pl.coalesce(
        pl.col("_sku_text"),
        pl.concat_str(
            pl.coalesce(present(pl.col("service.description")), pl.lit(PROVIDER)),
            pl.col("_ctype").str.replace_all("_", " "),
            separator=" ",
        ),
    )
    priced_quantity, priced_unit = pricing(pl.col("_qty"), pl.col("usage.pricing_unit"))
    covered = pl.col("_used").is_not_null()
    return base.select(
        *_common(display),
        pl.col("_cost").alias("BilledCost"),
        pl.when(covered)
        .then(pl.col("_cost") + pl.col("_cud_credit") + pl.col("_used"))
        .when(pl.col("_resource_fee"))
        .then(pl.lit(Decimal(0)))
        .otherwise(pl.col("_cost"))
        .cast(MONEY)
        .alias("EffectiveCost"),
        pl.coalesce("_list", "_cost").alias("ListCost"),
        pl.col("_cost").alias("ContractedCost"),
        pl.when(cud_fee).then(pl.lit("Purchase")).otherwise(category).alias("ChargeCategory"),
        description.alias("ChargeDescription"),
        pl.when(cud_fee)
        .then(pl.lit("Recurring"))
        .when(category == "Usage")
        .then(pl.lit("Usage-Based"))
        .otherwise(pl.lit("One-Time"))
        .alias("ChargeFrequency"),
        pl.when(cud_fee)
        .then(pl.when(spend_fee).then(pl.lit("Spend")).otherwise(pl.lit("Usage")))
        .when(covered)
        .then(pl.lit("Usage"))
        .alias("CommitmentDiscountCategory"),
        pl.when(cud_fee)
        .then(pl.coalesce("resource.global_name", "sku.id"))
        .when(covered)
        .then(pl.col("_cud_id"))
        .alias("CommitmentDiscountId"),
        pl.when(cud_fee)
        .then(sku)
        .when(covered)
        .then(pl.col("_cud_name"))
        .alias("CommitmentDiscountName"),
        pl.when(cud_fee | covered)
        .then(pl.lit("Committed Use Discount"))
        .alias("CommitmentDiscountType"),
        pl.when(covered).then(pl.lit("Used")).alias("CommitmentDiscountStatus"),
        pl.col("_qty").alias("ConsumedQuantity"),
        pl.col("usage.pricing_unit").alias("ConsumedUnit"),
        pl.when(category == "Tax")
        .then(None)
        .when(pl.col("_preemptible"))
        .then(pl.lit("Dynamic"))
        .when(covered)
        .then(pl.lit("Committed"))
        .otherwise(pl.lit("Standard"))
        .alias("PricingCategory"),
        pl.when(category == "Tax").then(None).otherwise(priced_quantity).alias("PricingQuantity"),
        pl.when(category == "Tax").then(None).otherwise(priced_unit).alias("PricingUnit"),
        sku.alias("x_UsageType"),
        pl.when(category == "Usage").then(pl.col("_gpu_model")).alias("x_GpuModel"),
        pl.when(category == "Usage").then(pl.col("_gpu_count")).alias("x_GpuCount"),
    )


def _credits(base: pl.LazyFrame, display: list[str]) -> pl.LazyFrame:
    """One Credit line per credit of a row."""
    return (
        base.filter(pl.col("credits").list.len() > 0)
        .with_columns(pl.struct("credits", "_credit_amounts").alias("_c"))
        .explode(["credits", "_credit_amounts"])
        .with_columns(
            pl.col("credits").struct.field("type").alias("_ctype_credit"),
            pl.col("credits").struct.field("id").alias("_cid"),
            pl.coalesce(
                pl.col("credits").struct.field("full_name"), pl.col("credits").struct.field("name")
            ).alias("_cname"),
        )
        .select(
            *_common(display),
            pl.col("_credit_amounts").alias("BilledCost"),
            # a resource CUD credit is amortised into the fee's share on its usage line
            pl.when(
                (pl.col("_ctype_credit") == RESOURCE_CUD_CREDIT)
                & (pl.col("_cid") == pl.col("_cud_id"))
                & pl.col("_used").is_not_null()
            )
            .then(pl.lit(Decimal(0)))
            .otherwise(pl.col("_credit_amounts"))
            .cast(MONEY)
            .alias("EffectiveCost"),
            pl.col("_credit_amounts").alias("ListCost"),
            pl.col("_credit_amounts").alias("ContractedCost"),
            pl.lit("Credit").alias("ChargeCategory"),
            pl.col("_cname").alias("ChargeDescription"),
            pl.lit("One-Time").alias("ChargeFrequency"),
            pl.col("_ctype_credit")
            .replace_strict(CUD_CREDITS, default=None)
            .alias("CommitmentDiscountCategory"),
            pl.when(pl.col("_ctype_credit").is_in(list(CUD_CREDITS)))
            .then(pl.coalesce("_cid", pl.col("credits").struct.field("name")))
            .alias("CommitmentDiscountId"),
            pl.when(pl.col("_ctype_credit").is_in(list(CUD_CREDITS)))
            .then(pl.col("_cname"))
            .alias("CommitmentDiscountName"),
            pl.when(pl.col("_ctype_credit").is_in(list(CUD_CREDITS)))
            .then(pl.lit("Committed Use Discount"))
            .alias("CommitmentDiscountType"),
            pl.lit(None, pl.String).alias("CommitmentDiscountStatus"),
            pl.lit(None, pl.Decimal(38, 12)).alias("ConsumedQuantity"),
            pl.lit(None, pl.String).alias("ConsumedUnit"),
            pl.lit(None, pl.String).alias("PricingCategory"),
            pl.lit(None, pl.Decimal(38, 12)).alias("PricingQuantity"),
            pl.lit(None, pl.String).alias("PricingUnit"),
            pl.col("_ctype_credit").alias("x_UsageType"),
            pl.lit(None, pl.String).alias("x_GpuModel"),
            pl.lit(None, pl.Int64).alias("x_GpuCount"),
        )
    )


# ---- the whole read -----------------------------------------------------------------------

TYPED = "gcp-typed.parquet"  # the typed rows of text files, staged once in the work folder


def read_all(exports: list[ExportFile], workdir: Path) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """Every file typed, with its `survey`, checked. Parquet is read where it lies (each pass
    decodes only the columns it needs); text files are typed once into a staging Parquet
    file, so their text is parsed once. The survey leaves the amounts to the conversion
    pass, which parses them anyway (`_pieces`); a rule broken anywhere has the whole export
    checked with them, so the message names the rule and row a full check names."""
    frame = pl.concat([typed(flat(e, i)) for i, e in enumerate(exports)], how="vertical_relaxed")
    if any(e.fmt != "parquet" for e in exports):
        path = workdir / TYPED
        frame.sink_parquet(path, compression="lz4", row_group_size=CHUNK_ROWS)
        frame = pl.scan_parquet(path)
    keys = survey(frame, money=False)
    if broken(keys):
        check(frame, exports)
    return frame, keys


def period_loads(
    exports: list[ExportFile], label: str, workdir: Path, month: str | None = None
) -> list[PeriodLoad]:
    """One PeriodLoad per (billing account, invoice month); `month` keeps only that month.

    The loads' lines read the export files and staging files in `workdir`, which must
    outlive the store's load (a page that fails to decode there is the store's InputError).
    """
    try:
        frame, keys = read_all(exports, workdir)
        if month is not None:
            picked = keys.filter(pl.col("_period").dt.strftime("%Y-%m") == month)
            if picked.height < keys.height:  # the other months are not converted: checked here
                check(frame, exports)
            keys = picked
        return loads_of(frame, exports, label, keys)
    except pl.exceptions.PolarsError as exc:  # a file polars cannot decode
        raise InputError(
            f"cannot read the export: {str(exc).splitlines()[0]}",
            file=", ".join(e.display for e in exports[:3]),
            expected="BigQuery billing export files of one schema",
        ) from None


def _pieces(
    batches: Callable[[], Iterator[pl.LazyFrame]],
    fees: pl.DataFrame,
    display: list[str],
    refuse: Callable[[], NoReturn],
    load: PeriodLoad,
) -> Pieces:
    """One invoice month's cost lines a chunk at a time: each chunk of typed rows (`batches`,
    already this month's) becomes its usage lines and its credit lines on its own (the
    month's CUD rates, from its few fee rows, are known beforehand); the Unused lines follow
    the last chunk. The typed rows' amounts are checked and summed as they pass: a chunk
    with one that breaks a rule calls `refuse`, and once the last chunk is converted the
    month's sum(cost) + sum(credits) is `load`'s source total."""

    def pieces() -> Iterator[pl.DataFrame]:
        rates = cud_rates(fees.lazy()).collect()
        used: list[pl.DataFrame] = []
        sums: list[pl.DataFrame] = []
        for batch in batches():
            base = _base(_prepared(batch), rates).collect()
            if not base.height:
                continue
            found = money_sums(base)
            if found["bad"][0]:
                refuse()
            sums.append(found)
            yield _usage(base.lazy(), display).collect()
            credits = _credits(base.lazy(), display).collect()
            if credits.height:
                yield credits
            used.append(used_by_commitment(base.lazy()).collect())
        load.source_total = _source_total(sums)
        if fees.height:
            fee_base = _base(fees.lazy(), rates)
            unused = unused_lines(fee_base, _usage(fee_base, display), combine_used(used))
            lines = unused.collect()
            if lines.height:
                yield lines

    return pieces


def _source_total(sums: list[pl.DataFrame]) -> Decimal:
    """sum(cost) + sum(credits) of a month from its chunks' `money_sums`, at scale 12."""
    cost = credits = None
    if sums:
        both = pl.concat(sums, how="vertical_relaxed")
        cost, credits = both["cost"].sum(), both["credits"].sum()
    return (Decimal(cost or 0) + Decimal(credits or 0)).quantize(Decimal("1e-12"))


def _refuse(frame: pl.LazyFrame, exports: list[ExportFile]) -> NoReturn:
    """A chunk holds an amount that breaks a rule: the whole export is checked, so the
    message names the first rule broken and its first row, as a check before any chunk."""
    check(frame, exports)
    raise InputError(  # not reached: the check finds what the chunk held
        "an amount that is not a decimal number",
        file=", ".join(e.display for e in exports[:3]),
        expected="a decimal number in every cost and credit amount",
        hint="re-export the billing table",
    )


def _fees(batches: Callable[[], Iterator[pl.LazyFrame]]) -> pl.DataFrame:
    """The month's resource CUD fee rows (few), read a chunk at a time."""
    fee_sku = pl.col("sku.description").str.contains(CUD_FEE)
    found = [
        _prepared(b.filter(fee_sku)).filter(pl.col("_resource_fee")).collect() for b in batches()
    ]
    return pl.concat(found, how="vertical_relaxed")


def _batches(
    frame: pl.LazyFrame, exports: list[ExportFile], key: pl.Expr, files: list[int]
) -> Callable[[], Iterator[pl.LazyFrame]]:
    """The typed rows matching `key`, CHUNK_ROWS at a time: Parquet exports batch by batch
    from the files that hold them (`files`, indexes into `exports`), the staged typed rows
    of text files by polars' streaming engine."""

    def parquet() -> Iterator[pl.LazyFrame]:
        for i in files:
            for batch in parquet_batches(exports[i], i, CHUNK_ROWS):
                yield typed(batch).filter(key)

    def staged() -> Iterator[pl.LazyFrame]:
        for rows in frame.filter(key).collect_batches(chunk_size=CHUNK_ROWS):
            yield rows.lazy()

    return parquet if all(e.fmt == "parquet" for e in exports) else staged


def loads_of(
    frame: pl.LazyFrame, exports: list[ExportFile], label: str, keys: pl.DataFrame | None = None
) -> list[PeriodLoad]:
    """One PeriodLoad per (billing account, invoice month) of typed rows (`keys`: their
    `survey`); the store reads each month a chunk at a time."""
    keys = survey(frame, money=False) if keys is None else keys
    display = [e.display for e in exports]
    out = []
    for row in keys.iter_rows(named=True):
        if len(row["currencies"]) > 1:
            raise InputError(
                "more than one currency in one invoice month",
                file=label,
                location=f"billing account {row['billing_account_id']}, {row['_period']:%Y-%m}",
                expected="one currency per billing account and month",
                found=", ".join(sorted(row["currencies"])),
            )
        key = (pl.col("billing_account_id") == row["billing_account_id"]) & (
            pl.col("_period") == row["_period"]
        )
        part = frame.filter(key)
        batches = _batches(frame, exports, key, sorted(row["files"]))
        fees = _fees(batches) if row["fee rows"] else _prepared(part.clear()).collect()
        load = PeriodLoad(
            source=SOURCE,
            billing_account=row["billing_account_id"],
            billing_period=f"{row['_period']:%Y-%m}",
            currency=row["currencies"][0],
            files=[
                SourceFile.of(exports[i].path, exports[i].display) for i in sorted(row["files"])
            ],
            lines=to_cost_lines(part, display),
            source_total=None,  # summed by the pieces, as they convert the rows
            label=label,
        )
        load.pieces = _pieces(batches, fees, display, lambda: _refuse(frame, exports), load)
        out.append(load)
    return out
