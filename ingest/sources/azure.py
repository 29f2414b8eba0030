"""Azure cost details (EA, MCA, pay-as-you-go; actual and amortized) -> cost_lines.

Reading is three steps: `discover` lists the export files under a path and `read_export`
reads one file as text under canonical names (ingest/sources/azure_export.py, azure_headers.py);
`period_loads` types the rows into a staging Parquet file (the CSV is parsed once, streaming),
checks them, combines the views and converts to FOCUS, one PeriodLoad per (billing account,
billing period). Lookup tables (service categories, GPU VM sizes) are in azure_catalog.py,
what a row's text values say (VM size, resource name and type, categories; once per distinct
value) in azure_rules.py, the charge codes and value checks in azure_checks.py, commitment
coverage in azure_commitments.py.

Actual + amortized. Cost Management writes two views of the same month: actual cost (what is
invoiced: commitment purchases in full, covered usage at zero) and amortized cost (purchases
spread over the usage they cover, plus UnusedReservation / UnusedSavingsPlan rows for the
rest). When both are given, their rows are matched on (day, subscription, resource, meter,
charge type, pricing model, quantity, benefit) and the n-th occurrence of a key in one file
pairs with the n-th in the other. A matched pair is one line with BilledCost from actual and
EffectiveCost from amortized; a row only in actual (a reservation purchase) is a line with
EffectiveCost 0; a row only in amortized (unused commitment, covered usage) is a line with
BilledCost 0. So sum(BilledCost) equals the actual file and sum(EffectiveCost) the amortized
file by construction, and a purchase is never counted twice. A file of one view alone loads
with EffectiveCost = BilledCost = its cost, except an amortized file alone, which is refused
(it cannot say what was billed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ingest.sources import azure_catalog as catalog
from ingest.sources import azure_commitments as commitments
from ingest.sources import azure_rules as rules
from ingest.sources.azure_checks import (
    CHARGE_TYPES,
    FREQUENCIES,
    PRICING_MODELS,
    check,
    kept_for_messages,
)
from ingest.sources.azure_commitments import covered_sizes
from ingest.sources.azure_export import ExportFile, read_export
from ingest.sources.azure_headers import Header
from ingest.sources.values import money_text, pricing, quantity
from ingest.warehouse.load_contract import CHUNK_ROWS, PeriodLoad, SourceFile
from models.errors import InputError
from models.schema import MONEY

SOURCE = "azure-cost-details"
PROVIDER = "Microsoft"
SCALE = Decimal("1e-12")
TYPED = "azure-typed.parquet"  # every file's rows, typed, in the staging folder
# The staging files are read back several times, soon after: decompressing them cost more
# CPU than their size on disk is worth (Parquet's dictionaries and RLE still apply).
STAGING = "uncompressed"
CAPACITY_KEY = "VMCapacityReservationId"  # in AdditionalInfo
# Read only for their typed columns (`typed`): not staged.
TYPED_ONLY = (
    "UnitPrice", "PaygCost", "BillingPeriodStartDate", "_bp_start", "BillingAccountId",
    "BillingProfileId",
)  # fmt: skip
MATCH_KEY = ("_day", "_sub", "_rid", "_meter", "_ctype", "_pmodel", "_qty", "_benefit")


# ---- typing (checks in azure_checks.py) ---------------------------------------------------


def _money(name: str) -> pl.Expr:
    return money_text(pl.col(name))


def _day(name: str) -> pl.Expr:
    text = pl.col(name).str.strip_chars()
    return pl.coalesce(
        text.str.to_date("%m/%d/%Y", strict=False),
        text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False),
    )


def typed(raw: pl.LazyFrame) -> pl.LazyFrame:
    """Parse the columns that totals, periods and keys depend on; the texts that only the
    checks' messages read are kept on the failing rows alone (`kept_for_messages`)."""
    blank = pl.all_horizontal(
        pl.col(c).is_null() for c in ("Cost", "MeterId", "MeterCategory", "SubscriptionId")
    )
    return (
        raw.filter(~blank)
        .with_columns(
            _money("Cost").alias("_cost"),
            quantity(pl.col("Quantity"), pl.String).alias("_qtyd"),
            _money("PayGPrice").alias("_payg_price"),
            _money("UnitPrice").alias("_unit_price"),
            _money("PaygCost").alias("_payg_cost"),
            _day("Date").alias("_date"),
            _day("BillingPeriodStartDate").alias("_bp_start"),
            pl.col("ChargeType").str.to_lowercase().str.strip_chars().alias("_ctype_key"),
            pl.col("Frequency").str.to_lowercase().str.strip_chars().alias("_freq_key"),
            pl.col("PricingModel").str.to_lowercase().str.strip_chars().alias("_pm_key"),
        )
        .with_columns(
            pl.coalesce("_bp_start", pl.col("_date").dt.month_start())
            .dt.month_start()
            .alias("_period"),
            pl.coalesce(
                "BillingAccountId", "BillingProfileId", "SubscriptionId", pl.lit("unknown")
            ).alias("_account"),
            pl.col("BillingCurrency").str.to_uppercase().alias("_currency"),
        )
        .with_columns(kept_for_messages())
        .drop(TYPED_ONLY)
    )


# ---- actual + amortized ------------------------------------------------------------------


def _keyed(frame: pl.LazyFrame) -> pl.LazyFrame:
    key = frame.with_columns(
        pl.col("_date").cast(pl.String).alias("_day"),
        pl.col("SubscriptionId").str.to_lowercase().fill_null("").alias("_sub"),
        pl.col("ResourceId").str.to_lowercase().fill_null("").alias("_rid"),
        pl.col("MeterId").str.to_lowercase().fill_null("").alias("_meter"),
        pl.col("_ctype_key").fill_null("").alias("_ctype"),
        pl.col("_pm_key").fill_null("").alias("_pmodel"),
        pl.col("_qtyd").cast(pl.String).fill_null("").alias("_qty"),
        pl.coalesce("BenefitId", "ReservationId")
        .str.to_lowercase()
        .fill_null("")
        .alias("_benefit"),
    )
    return key.with_columns(pl.int_range(pl.len()).over(list(MATCH_KEY)).alias("_occ"))


def combine(actual: pl.LazyFrame, amortized: pl.LazyFrame | None) -> pl.LazyFrame:
    """One frame with `_billed` and `_effective` (see the module docstring for the rule)."""
    if amortized is None:
        return actual.with_columns(
            pl.col("_cost").alias("_billed"),
            pl.col("_cost").alias("_effective"),
            pl.lit(True).alias("_in_actual"),
        )
    keys = [*MATCH_KEY, "_occ"]
    a, m = _keyed(actual), _keyed(amortized)
    # in the actual file's order, then lines only the amortized file has: line ids (by
    # position) are the same on every load of the same files
    joined = a.join(
        m, on=keys, how="full", suffix="_am", coalesce=True, maintain_order="left_right"
    )
    names = joined.collect_schema().names()
    data_cols = [c for c in actual.collect_schema().names() if f"{c}_am" in names]
    return joined.select(
        *keys,
        *[pl.coalesce(c, f"{c}_am").alias(c) for c in data_cols if c != "_cost"],
        pl.col("_cost").fill_null(pl.lit(0, MONEY)).alias("_billed"),
        pl.col("_cost_am").fill_null(pl.lit(0, MONEY)).alias("_effective"),
        pl.col("_cost").is_not_null().alias("_in_actual"),
    )


# ---- FOCUS conversion ---------------------------------------------------------------------


def to_cost_lines(frame: pl.LazyFrame, display: list[str], covered: dict[str, str]) -> pl.LazyFrame:
    """FOCUS columns from the combined frame (`_billed`, `_effective` and typed helpers) of
    one (billing account, period); `covered` maps its commitments to the one VM size each
    covered (`covered_sizes`)."""
    ctype = pl.col("_ctype_key")
    # Pay-as-you-go usage files have no ChargeType: every row is usage.
    category = ctype.replace_strict(CHARGE_TYPES, default=None).fill_null("Usage")
    unused = ctype.str.starts_with("unused")
    freq = (
        pl.col("_freq_key")
        .replace_strict(FREQUENCIES, default=None)
        .fill_null(
            pl.when(category == "Purchase")
            .then(pl.lit("One-Time"))
            .otherwise(pl.lit("Usage-Based"))
        )
    )
    benefit = commitments.benefit()
    is_sp = benefit.str.to_lowercase().str.contains("savingsplan") | (
        pl.col("_pm_key") == "savingsplan"
    )
    has_benefit = commitments.has_benefit()
    vm_size = pl.col(rules.INFO).struct.field("_vm_size")
    tags = pl.col("Tags").str.strip_chars()
    # Few rows name a capacity reservation: only those are parsed as JSON.
    info = pl.col("AdditionalInfo")
    capacity = (
        pl.when(info.str.contains(CAPACITY_KEY, literal=True))
        .then(info)
        .str.json_path_match(f"$.{CAPACITY_KEY}")
    )
    start = pl.col("_date").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    period = pl.col("_period").cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    priced_quantity, priced_unit = pricing(pl.col("_qtyd"), pl.col("UnitOfMeasure"))
    list_cost = pl.coalesce(
        "_payg_cost",
        pl.when(pl.col("_payg_price") != 0).then(pl.col("_payg_price") * pl.col("_qtyd")),
        "_effective",
    )
    contracted = pl.coalesce(pl.col("_unit_price") * pl.col("_qtyd"), "_effective")
    lines = frame.with_columns(*rules.parsed()).unnest(rules.METER, rules.SERVICE)
    lines = lines.with_columns(vm_size.alias("x_InstanceType"))
    # An unused commitment's line carries the one VM size the commitment covered in the
    # period (covered_sizes), else none.
    lines = lines.with_columns(
        pl.when(has_benefit & unused)
        .then(benefit.replace_strict(covered, default=None, return_dtype=pl.String))
        .otherwise(pl.col("x_InstanceType"))
        .alias("x_InstanceType")
    )
    gpu_line = pl.col("_cat_key").is_in(catalog.GPU_METER_CATEGORIES) & (category == "Usage")
    return lines.select(
        pl.col("AvailabilityZone"),
        pl.col("_billed").alias("BilledCost"),
        pl.col("_account").alias("BillingAccountId"),
        pl.col("BillingAccountName"),
        pl.col("_currency").alias("BillingCurrency"),
        period.dt.offset_by("1mo").alias("BillingPeriodEnd"),
        period.alias("BillingPeriodStart"),
        capacity.alias("CapacityReservationId"),
        pl.when(capacity.is_not_null()).then(pl.lit("Used")).alias("CapacityReservationStatus"),
        category.alias("ChargeCategory"),
        pl.when(ctype == "refund").then(pl.lit("Correction")).alias("ChargeClass"),
        pl.coalesce("ProductName", "MeterName", "MeterCategory").alias("ChargeDescription"),
        freq.alias("ChargeFrequency"),
        start.dt.offset_by("1d").alias("ChargePeriodEnd"),
        start.alias("ChargePeriodStart"),
        pl.when(has_benefit)
        .then(pl.when(is_sp).then(pl.lit("Spend")).otherwise(pl.lit("Usage")))
        .alias("CommitmentDiscountCategory"),
        pl.when(has_benefit).then(benefit).alias("CommitmentDiscountId"),
        pl.when(has_benefit)
        .then(pl.coalesce("BenefitName", "ReservationName"))
        .alias("CommitmentDiscountName"),
        pl.when(has_benefit & (category == "Usage"))
        .then(pl.when(unused).then(pl.lit("Unused")).otherwise(pl.lit("Used")))
        .alias("CommitmentDiscountStatus"),
        pl.when(has_benefit)
        .then(pl.when(is_sp).then(pl.lit("Savings Plan")).otherwise(pl.lit("Reservation")))
        .alias("CommitmentDiscountType"),
        pl.col("_qtyd").alias("ConsumedQuantity"),
        pl.col("UnitOfMeasure").alias("ConsumedUnit"),
        contracted.alias("ContractedCost"),
        pl.col("_unit_price").alias("ContractedUnitPrice"),
        pl.col("_effective").alias("EffectiveCost"),
        pl.col("InvoiceId"),
        pl.lit(PROVIDER).alias("InvoiceIssuerName"),
        list_cost.alias("ListCost"),
        pl.col("_payg_price").alias("ListUnitPrice"),
        pl.when(category == "Tax")
        .then(None)
        .when(category == "Purchase")
        .then(pl.lit("Standard"))
        .otherwise(pl.col("_pm_key").replace_strict(PRICING_MODELS, default="Standard"))
        .alias("PricingCategory"),
        pl.col("PricingCurrency"),
        pl.when(category == "Tax").then(None).otherwise(priced_quantity).alias("PricingQuantity"),
        pl.when(category == "Tax").then(None).otherwise(priced_unit).alias("PricingUnit"),
        pl.lit(PROVIDER).alias("ProviderName"),
        pl.coalesce("PublisherName", pl.lit(PROVIDER)).alias("PublisherName"),
        pl.col("ResourceLocation").str.to_lowercase().str.replace_all(" ", "").alias("RegionId"),
        pl.col("MeterRegion").alias("RegionName"),
        pl.col("ResourceId").str.to_lowercase().alias("ResourceId"),
        pl.coalesce("ResourceName", pl.col(rules.RID).struct.field("_name")).alias("ResourceName"),
        pl.coalesce("ResourceType", pl.col(rules.RID).struct.field("_type")).alias("ResourceType"),
        pl.coalesce("_svc_cat", "_cons_cat", pl.lit(catalog.OTHER[0])).alias("ServiceCategory"),
        pl.coalesce(
            "MeterCategory", "ServiceName", "ConsumedService", "ProductName", pl.lit("Azure")
        ).alias("ServiceName"),
        pl.coalesce("_svc_sub", "_cons_sub", pl.lit(catalog.OTHER[1])).alias("ServiceSubcategory"),
        pl.coalesce("ProductId", "PartNumber").alias("SkuId"),
        pl.col("MeterName").alias("SkuMeter"),
        pl.col("MeterId").alias("SkuPriceId"),
        pl.col("SubscriptionId").alias("SubAccountId"),
        pl.col("SubscriptionName").alias("SubAccountName"),
        pl.when(pl.col("SubscriptionId").is_not_null())
        .then(pl.lit("Subscription"))
        .alias("SubAccountType"),
        pl.when(tags.is_null() | (tags == ""))
        .then(None)
        .when(tags.str.starts_with("{"))
        .then(tags)
        .otherwise(pl.concat_str(pl.lit("{"), tags, pl.lit("}")))
        .alias("Tags"),
        pl.col("_file")
        .replace_strict(list(range(len(display))), display, return_dtype=pl.String)
        .alias("x_SourceFile"),
        pl.col("MeterName").alias("x_UsageType"),
        pl.col("ConsumedService").alias("x_ServiceCode"),
        pl.col("MeterCategory").alias("x_SkuMeterCategory"),
        pl.col("MeterSubCategory").alias("x_SkuMeterSubcategory"),
        pl.col("x_InstanceType"),
        pl.when(gpu_line).then(pl.col(rules.INFO).struct.field("_gpu_model")).alias("x_GpuModel"),
        pl.when(gpu_line).then(pl.col(rules.INFO).struct.field("_gpu_count")).alias("x_GpuCount"),
        (pl.col("PublisherType").str.to_lowercase() == "marketplace")
        .fill_null(False)
        .alias("x_Marketplace"),
    )


# ---- the whole read -----------------------------------------------------------------------


def read_all(
    exports: list[ExportFile], workdir: Path
) -> tuple[pl.LazyFrame, list[Header], list[SourceFile]]:
    """Every file read and typed once into a staging Parquet file, then checked.

    The CSV is parsed once, streaming; every later pass (checks, totals, conversion) reads
    the staged columns it needs, so memory stays flat whatever the export's size.
    """
    frames, headers, sources = [], [], []
    for i, export in enumerate(exports):
        raw, header, source = read_export(export, i)
        frames.append(raw.with_columns(pl.lit(export.kind).alias("_view")))
        headers.append(header)
        sources.append(source)
    path = workdir / TYPED
    try:
        typed(pl.concat(frames, how="vertical")).sink_parquet(
            path, compression=STAGING, row_group_size=CHUNK_ROWS
        )
    except pl.exceptions.PolarsError as exc:
        raise InputError(
            f"cannot read the CSV: {str(exc).splitlines()[0]}",
            file=", ".join(e.display for e in exports[:3]),
            expected="a comma-separated cost-details export with one header row",
            hint="re-export the file; a row may have more fields than the header",
        ) from None
    frame = pl.scan_parquet(path)
    check(frame, exports, headers)
    return frame, headers, sources


def period_loads(
    exports: list[ExportFile], label: str, workdir: Path, source: str = SOURCE
) -> list[PeriodLoad]:
    """One PeriodLoad per (billing account, billing period) over the given export files.

    The loads' lines read staging files in `workdir`, which must outlive the store's load.
    """
    kinds = {e.kind for e in exports}
    if "amortized" in kinds and "actual" not in kinds:
        raise InputError(
            "amortized cost without the actual cost of the same month",
            file=label,
            expected="the actual-cost export too (actual/ and amortized/ folders, or both files)",
            found="amortized only",
            hint="BilledCost comes from the actual export; give both",
        )
    frame, _, sources = read_all(exports, workdir)
    if "amortized" in kinds:
        billed_view = frame.filter(pl.col("_view") != "amortized")
        amortized = frame.filter(pl.col("_view") == "amortized")
        staged = workdir / "azure-combined.parquet"
        combine(billed_view, amortized).sink_parquet(
            staged, compression=STAGING, row_group_size=CHUNK_ROWS
        )
        combined = pl.scan_parquet(staged)
        keys = _keys(combined).join(_totals(billed_view), on=["_account", "_period"], how="left")
        prepare = _as_is
    else:  # one view: its rows are the lines, read straight from the typed file
        staged = workdir / TYPED
        combined = combine(frame, None)
        keys = _keys(combined, totals=True)
        prepare = _one_view
    covered = covered_sizes(combined).collect()
    display = [e.display for e in exports]
    out = []
    for row in keys.iter_rows(named=True):
        account, period = row["_account"], row["_period"]
        if len(row["currencies"]) > 1:
            raise InputError(
                "more than one currency in one billing period",
                file=label,
                location=f"billing account {account}, {period:%Y-%m}",
                expected="one BillingCurrency per billing account and month",
                found=", ".join(sorted(c or "?" for c in row["currencies"])),
                hint="totals are never summed across currencies; export each currency separately",
            )
        in_part = (pl.col("_account") == account) & (pl.col("_period") == period)
        part = combined.filter(in_part)
        sizes = covered.filter((pl.col("_account") == account) & (pl.col("_period") == period))
        sizes_of = dict(zip(sizes["_benefit_key"], sizes["_covered"], strict=True))
        out.append(
            PeriodLoad(
                source=source,
                billing_account=account,
                billing_period=f"{period:%Y-%m}",
                currency=row["currencies"][0],
                files=[sources[i] for i in sorted(row["files"])],
                lines=to_cost_lines(part, display, sizes_of),
                source_total=Decimal(row["t"] or 0).quantize(SCALE),
                label=label,
                pieces=_pieces(staged, prepare, in_part, display, sizes_of),
            )
        )
    return out


def _one_view(frame: pl.LazyFrame) -> pl.LazyFrame:
    return combine(frame, None)


def _as_is(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame


def _pieces(
    staged: Path,
    prepare: Callable[[pl.LazyFrame], pl.LazyFrame],
    in_part: pl.Expr,
    display: list[str],
    covered: dict[str, str],
) -> Callable[[], Iterator[pl.DataFrame]]:
    """The period's cost lines, converted one row group of the staged file at a time, when
    the store asks for them: memory follows the row group, not the period (a query run ahead
    of a slower consumer queues its batches)."""

    def pieces() -> Iterator[pl.DataFrame]:
        meta = pq.read_metadata(staged)
        start = 0
        for group in range(meta.num_row_groups):
            size = meta.row_group(group).num_rows
            # polars reads the one row group the slice falls in, and only the columns the
            # conversion uses (pyarrow's read of the whole group and its hand-over to polars
            # cost more CPU than the conversion itself)
            rows = pl.scan_parquet(staged).slice(start, size)
            start += size
            lines = to_cost_lines(prepare(rows).filter(in_part), display, covered)
            chunk = lines.collect(engine="streaming")
            if chunk.height:
                yield chunk

    return pieces


def _keys(combined: pl.LazyFrame, totals: bool = False) -> pl.DataFrame:
    """The (billing account, period) pairs of the lines, with their currencies and files;
    with `totals`, the sum of the source's cost column too (`t`, when the lines are the
    actual rows as read)."""
    extra = [pl.col("_cost").sum().alias("t")] if totals else []
    return (
        combined.group_by("_account", "_period")
        .agg(
            pl.col("_currency").unique().alias("currencies"),
            pl.col("_file").unique().alias("files"),
            *extra,
        )
        .sort("_period", "_account")
        .collect()
    )


def _totals(billed_view: pl.LazyFrame) -> pl.DataFrame:
    """The source total comes from the actual rows as read, not from the combined lines."""
    return (
        billed_view.group_by("_account", "_period").agg(pl.col("_cost").sum().alias("t")).collect()
    )
