"""AWS Cost and Usage Reports: legacy CSV/CSV.gz, legacy Parquet, CUR 2.0 Parquet -> cost lines.

Listing and reading are separate steps. `survey` (cur_layout.py) finds the billing periods under
a path (a file, a CUR manifest, a period folder, a folder of period folders, or an AWS Data
Exports folder read by its newest manifests); `read_period` turns one
period's files into PeriodLoads, one per payer account, each with its source total summed from
the raw unblended-cost column. The flavour is detected from the columns (formats.md §4.1).
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from ingest.sources import aws_columns as cols
from ingest.sources.aws_columns import normalise, source_column
from ingest.sources.cur_layout import Period, survey
from ingest.sources.decoding import decoding
from ingest.sources.delivery import Loads
from ingest.sources.detect import (
    CSV,
    CSV_GZ,
    PARQUET,
    Sniffed,
    columns_found,
    sniff,
)
from ingest.sources.values import Check, first_bad, money, not_before, raise_bad, timestamp
from ingest.warehouse.load_contract import CHUNK_ROWS, PeriodLoad, SourceFile
from models.errors import InputError

CUR2, LEGACY_CSV, LEGACY_PARQUET = "aws-cur2", "aws-cur-legacy", "aws-cur-legacy"
# Required columns: snake_case name -> the legacy CSV name (for messages in the file's terms).
REQUIRED = {
    "bill_payer_account_id": "bill/PayerAccountId",
    "bill_billing_period_start_date": "bill/BillingPeriodStartDate",
    "bill_billing_period_end_date": "bill/BillingPeriodEndDate",
    "line_item_line_item_type": "lineItem/LineItemType",
    "line_item_usage_start_date": "lineItem/UsageStartDate",
    "line_item_usage_end_date": "lineItem/UsageEndDate",
    "line_item_product_code": "lineItem/ProductCode",
    "line_item_currency_code": "lineItem/CurrencyCode",
    "line_item_unblended_cost": "lineItem/UnblendedCost",
}
MONEY_COLUMNS = ("line_item_unblended_cost",)
TIME_COLUMNS = (
    "bill_billing_period_start_date",
    "bill_billing_period_end_date",
    "line_item_usage_start_date",
    "line_item_usage_end_date",
)
SP_USED = "savings_plan_used_commitment"
SP_TOTAL = "savings_plan_total_commitment_to_date"
COMMITMENT_COLUMNS = (
    SP_TOTAL,
    SP_USED,
    "reservation_unused_amortized_upfront_fee_for_billing_period",
    "reservation_unused_recurring_fee",
    "reservation_unused_quantity",
)
Display = Callable[[Path], str]


# ---- reading ----------------------------------------------------------------------------


def _flavour(s: Sniffed) -> str:
    names = set(s.columns)
    if s.container in (CSV, CSV_GZ) and any(n.startswith("lineItem/") for n in names):
        return "legacy-csv"
    if s.container == PARQUET and "line_item_line_item_type" in names:
        return "cur2" if "product" in names or "resource_tags" in names else "legacy-parquet"
    if s.container in (CSV, CSV_GZ) and "line_item_line_item_type" in names:
        return "legacy-csv-snake"
    raise InputError(
        "not an AWS Cost and Usage Report",
        file=s.display,
        expected="CUR columns such as lineItem/UnblendedCost or line_item_unblended_cost",
        found=f"{s.container} with columns {', '.join(s.columns[:5])}",
        hint="for FOCUS exports use `finops ingest focus`",
    )


# CUR 2.0 keeps these as maps (product attributes, tags, cost categories, discounts); every
# other column the reader uses holds text, a number or a date-time.
MAP_COLUMNS = frozenset({"product", "resource_tags", "cost_category", "discount"})


def _check_types(schema: pl.Schema, tags: dict[str, str], display: str) -> None:
    """A list, map or struct where a used column holds a value is one message naming the
    column and its type, not a cast error without a column."""
    used = {*REQUIRED, *cols.needed_columns(schema, tags)}
    for name, dtype in schema.items():
        if name in used and name not in MAP_COLUMNS and dtype.is_nested():
            raise InputError(
                f"column {name!r} has a type that cannot hold its values",
                file=display,
                location=f"column {name}",
                expected="text, a number or a date-time, as AWS writes the column",
                found=f"a column of type {dtype}",
                hint="re-export the file with the provider's column types; nothing was loaded",
            )


def _scan(s: Sniffed, flavour: str) -> tuple[pl.LazyFrame, dict[str, str], dict[str, str]]:
    """The file with snake_case names, its tag columns {column: key}, and {snake: original}."""
    if s.container == PARQUET:
        frame = pl.scan_parquet(s.path)
    else:
        frame = pl.scan_csv(s.path, infer_schema=False, null_values=[""], encoding="utf8")
    tags = {c: k for c in s.columns if (k := cols.tag_key(c)) is not None}
    rename: dict[str, str] = {}
    if flavour == "legacy-csv":
        taken = set(s.columns)
        for c in s.columns:
            if c in tags:
                continue
            new = cols.snake(c)
            if new != c and new not in taken:
                rename[c] = new
                taken.add(new)
        frame = frame.rename(rename)
    original = {v: k for k, v in rename.items()}
    schema = frame.collect_schema()
    missing = [REQUIRED[c] if flavour == "legacy-csv" else c for c in REQUIRED if c not in schema]
    if missing:
        raise InputError(
            "missing required column" + ("s" if len(missing) > 1 else ""),
            file=s.display,
            location="column " + ", ".join(missing),
            expected=f"all {len(REQUIRED)} required CUR columns",
            found=columns_found(s.columns),
            hint="the export definition may have changed; re-export with the default columns",
        )
    if s.container == PARQUET:
        _check_types(schema, tags, s.display)
    return frame, tags, original


def _checks(frame: pl.LazyFrame, original: dict[str, str]) -> list[Check]:
    schema = frame.collect_schema()
    out = []
    for c in MONEY_COLUMNS:
        out.append(Check(c, "a decimal number", money(pl.col(c), schema[c]), original.get(c)))
    for c in TIME_COLUMNS:
        parsed = timestamp(pl.col(c), schema[c])
        out.append(Check(c, "a date-time like 2026-09-01T00:00:00Z", parsed, original.get(c)))
    out.append(
        not_before("line_item_usage_end_date", "line_item_usage_start_date", schema, original)
    )
    # The commitment columns become Unused lines' money: one that does not parse would be
    # read as zero and move the amortised cost, so each is refused by row like the cost.
    for c in COMMITMENT_COLUMNS:
        if c in schema:
            out.append(Check(c, "a decimal number", money(pl.col(c), schema[c]), original.get(c)))
    if SP_USED in schema and SP_TOTAL in schema:
        out.append(_within_commitment(schema, original))
    return out


def _within_commitment(schema: pl.Schema, original: dict[str, str]) -> Check:
    """A Savings Plan cannot use more than its commitment to date: its Unused line would be
    negative and lower the amortised cost by money nobody saved. A cent is allowed for the
    rounding of the two columns."""
    used = money(pl.col(SP_USED), schema[SP_USED])
    total = money(pl.col(SP_TOTAL), schema[SP_TOTAL])
    fee = pl.col("line_item_line_item_type") == "SavingsPlanRecurringFee"
    over = fee & (used > total + pl.lit(Decimal("0.01"), pl.Decimal(38, 12)))
    return Check(
        SP_USED,
        f"no more than {original.get(SP_TOTAL, SP_TOTAL)} on the same line",
        pl.when(over.fill_null(False)).then(None).otherwise(used),
        original.get(SP_USED),
        problem="is more than the Savings Plan's commitment to date",
    )


def _keys(frame: pl.LazyFrame) -> pl.DataFrame:
    """(payer, period, currency) -> rows and sum of the raw unblended cost, at scale 12."""
    s = frame.collect_schema()
    return (
        frame.select(
            source_column(s, "bill_payer_account_id").alias("account"),
            timestamp(pl.col("bill_billing_period_start_date"), s["bill_billing_period_start_date"])
            .dt.strftime("%Y-%m")
            .alias("period"),
            source_column(s, "line_item_currency_code").alias("currency"),
            money(pl.col("line_item_unblended_cost"), s["line_item_unblended_cost"]).alias("cost"),
        )
        .group_by("account", "period", "currency")
        .agg(pl.len().alias("rows"), pl.col("cost").sum().alias("total"))
        .collect()
    )


Pieces = Callable[[], Iterator[pl.DataFrame]]


def _pieces(
    s: Sniffed, frame: pl.LazyFrame, tags: dict[str, str], covered: dict[str, str]
) -> Pieces:
    """The file's normalised lines a bounded number at a time, in file order.

    Parquet is read one row group at a time, only the columns the mapping uses, and each
    batch normalised on its own, so memory follows the row group, not the file (polars' scan
    keeps several row groups of a 100-column CUR in flight). CSV is streamed by polars.
    """

    def parquet() -> Iterator[pl.DataFrame]:
        source = pq.ParquetFile(s.path, pre_buffer=False)
        columns = cols.needed_columns(frame.collect_schema(), tags)
        for group in range(source.num_row_groups):
            batches = source.iter_batches(CHUNK_ROWS, row_groups=[group], columns=columns)
            while True:
                with decoding(s):  # this generator's reads only, never the consumer's work
                    rb = next(batches, None)
                if rb is None:
                    break
                raw = pl.from_arrow(rb)
                assert isinstance(raw, pl.DataFrame)
                yield normalise(raw.lazy(), tags, s.display, covered).collect()

    def csv() -> Iterator[pl.DataFrame]:
        lines = normalise(frame, tags, s.display, covered)
        yield from lines.collect_batches(chunk_size=CHUNK_ROWS)

    return parquet if s.container == PARQUET else csv


def _account_pieces(files: list[Pieces], account: str | None) -> Pieces:
    def pieces() -> Iterator[pl.DataFrame]:
        for file in files:
            for piece in file():
                if account is not None:
                    piece = piece.filter(pl.col("BillingAccountId") == account)
                if piece.height:
                    yield piece

    return pieces


def read_period(period: Period, work: Path, display: Display = str) -> list[PeriodLoad]:
    """One billing period's files -> one PeriodLoad per payer account (raises on bad input)."""
    scanned: list[tuple[Sniffed, pl.LazyFrame, dict[str, str]]] = []
    plans: list[pl.DataFrame] = []
    totals: dict[tuple[str, str, str], Decimal] = {}
    first_file: dict[str, str] = {}
    flavours: dict[str, str] = {}
    sources: list[SourceFile] = []
    for path in period.files:
        shown = display(path)
        sniffed = sniff(path, shown, work)
        flavour = _flavour(sniffed)
        flavours.setdefault(flavour, shown)
        frame, tags, original = _scan(sniffed, flavour)
        header = 1 if sniffed.container != PARQUET else 0
        with decoding(sniffed):  # the reads below decode every page the reader uses
            raise_bad(shown, first_bad(frame, _checks(frame, original)), header)
            keys = _keys(frame)
            plan = cols.covered_instance_types(frame)
        if keys.height == 0:
            raise InputError(
                "the file has a header but no data rows",
                file=shown,
                expected="at least one line item",
                found="0 rows",
                hint="AWS writes an empty report before the first charges; wait for the next one",
            )
        for account, month, currency, _, total in keys.iter_rows():
            if account is None or currency is None:
                raise InputError(
                    "line items without a payer account or currency",
                    file=shown,
                    location="column bill_payer_account_id / line_item_currency_code",
                    expected="a value on every line",
                    found="empty",
                )
            first_file.setdefault(month, shown)
            totals[(account, month, currency)] = totals.get(
                (account, month, currency), Decimal(0)
            ) + Decimal(total)
        scanned.append((sniffed, frame, tags))
        plans.append(plan)
        sources.append(SourceFile.of(path, shown))
    if len(flavours) > 1:
        raise InputError(
            "one billing period mixes CUR formats",
            file=period.label,
            found=", ".join(f"{k} ({v})" for k, v in flavours.items()),
            hint="give each export its own folder",
        )
    months = sorted(first_file)
    if len(months) > 1:
        raise InputError(
            "files of more than one billing period in one folder",
            file=period.label,
            expected="one billing period per folder (or manifest)",
            found=", ".join(f"{m} in {first_file[m]}" for m in months),
            hint="put each period's files in their own folder, e.g. BILLING_PERIOD=YYYY-MM/",
        )
    # Unused Savings Plan lines carry the instance type the plan covered most of in the
    # period, which may be in another file of the period than the fee line.
    covered = cols.plan_instance_types(plans)
    frames = [normalise(frame, tags, sn.display, covered) for sn, frame, tags in scanned]
    pieces = [_pieces(sn, frame, tags, covered) for sn, frame, tags in scanned]
    source = CUR2 if "cur2" in flavours else LEGACY_CSV
    lines = pl.concat(frames, how="vertical") if len(frames) > 1 else frames[0]
    loads = []
    accounts = sorted({a for a, _, _ in totals})
    for account in accounts:
        currencies = sorted({c for a, _, c in totals if a == account})
        if len(currencies) > 1:
            raise InputError(
                "more than one currency in one billing period",
                file=period.label,
                location=f"account {account}, period {months[0]}",
                expected="one currency per billing period",
                found=", ".join(currencies),
                hint="totals are never summed across currencies; split the export by currency",
            )
        currency = currencies[0]
        mine = lines if len(accounts) == 1 else lines.filter(pl.col("BillingAccountId") == account)
        loads.append(
            PeriodLoad(
                source=source,
                billing_account=account,
                billing_period=months[0],
                currency=currency,
                files=sources,
                lines=mine,
                source_total=totals[(account, months[0], currency)],
                label=period.label,
                pieces=_account_pieces(pieces, account if len(accounts) > 1 else None),
                by_file=[
                    _account_pieces([file], account if len(accounts) > 1 else None)
                    for file in pieces
                ],
            )
        )
    return loads


@contextlib.contextmanager
def open_export(target: Path, display: Display = str) -> Iterator[list[PeriodLoad]]:
    """Every billing period under `target` as PeriodLoads; scratch files removed on exit."""
    with tempfile.TemporaryDirectory(prefix="finops-aws-") as tmp:
        planned = survey(target, display)
        loads = Loads(skipped=planned.skipped)
        for i, period in enumerate(planned.periods):
            loads.extend(read_period(period, Path(tmp) / str(i), display))
        yield loads
