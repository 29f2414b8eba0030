"""FOCUS 1.0-1.2 cost-and-usage exports from any provider (CSV, CSV.gz, Parquet) -> cost lines.

Real files are looser than the specification (formats.md §5): "NULL" strings, timestamps
without T/Z, `Usage-based` casing, no ServiceSubcategory before 1.1, Azure tags without outer
braces. Those are tolerated here; anything else is an InputError naming the file and line.
A file may hold several providers, accounts and periods: each (billing account, billing
period) becomes its own PeriodLoad, with a source total summed from the raw BilledCost column.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl

from ingest.sources import azure_runs, focus_delivery
from ingest.sources.decoding import check_parquet_data, decoding
from ingest.sources.delivery import Loads
from ingest.sources.detect import (
    PARQUET,
    Sniffed,
    columns_found,
    sniff,
)
from ingest.sources.values import (
    Check,
    first_bad,
    money,
    not_before,
    raise_bad,
    timestamp,
    wrong_type,
)
from ingest.warehouse.load_contract import CHUNK_ROWS, PeriodLoad, SourceFile
from models.errors import InputError
from models.schema import COST_LINES

SOURCE = "focus"
REQUIRED = (
    "BilledCost",
    "BillingAccountId",
    "BillingCurrency",
    "BillingPeriodStart",
    "BillingPeriodEnd",
    "ChargeCategory",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ServiceCategory",
    "ServiceName",
)
NULLS = ["", "NULL", "null"]
FREQUENCIES = {"usage-based": "Usage-Based", "one-time": "One-Time", "recurring": "Recurring"}
# FOCUS 1.3 renamed the provider columns; older names win when both are present.
RENAMED = {"ServiceProviderName": "ProviderName", "HostProviderName": "PublisherName"}
OURS = {"x_Source", "x_LoadId", "x_LineId", "x_SourceFile"}
Display = Callable[[Path], str]


def _check_columns(s: Sniffed) -> None:
    names = set(s.columns)
    if not {"BilledCost", "ChargePeriodStart"} & names:
        raise InputError(
            "not a FOCUS cost-and-usage file",
            file=s.display,
            expected="FOCUS columns such as BilledCost, ChargePeriodStart, ServiceCategory",
            found=f"{s.container} with columns {', '.join(s.columns[:5])}",
            hint="for AWS CUR use `finops ingest aws`",
        )
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise InputError(
            "missing required column" + ("s" if len(missing) > 1 else ""),
            file=s.display,
            location="column " + ", ".join(missing),
            expected=f"all {len(REQUIRED)} required FOCUS columns",
            found=columns_found(s.columns),
        )


def _scan(s: Sniffed) -> pl.LazyFrame:
    if s.container == PARQUET:
        frame = pl.scan_parquet(s.path)
    else:
        frame = pl.scan_csv(s.path, infer_schema=False, null_values=NULLS, encoding="utf8")
    renames = {
        old: new for old, new in RENAMED.items() if old in s.columns and new not in s.columns
    }
    return frame.rename(renames) if renames else frame


# What each kind of FOCUS column holds, as a message says it.
KIND_EXPECTED = {
    "string": "text",
    "json": 'JSON text such as {"team": "ml"}',
    "decimal": "a decimal number",
    "datetime": "a date-time like 2024-09-01T00:00:00Z",
    "int": "a whole number",
    "float": "a number",
    "bool": "true or false",
}


def _check_types(frame: pl.LazyFrame, display: str) -> None:
    """A Parquet column holding lists or structs, or booleans where FOCUS has text or numbers,
    cannot be read as its column: one message naming the column and both types (text would
    otherwise be "true" or a cast error without a column)."""
    schema = frame.collect_schema()
    for col in COST_LINES.columns:
        dtype = schema.get(col.name)
        if dtype is None or col.name in OURS:
            continue
        if dtype.is_nested() or (dtype == pl.Boolean and col.kind != "bool"):
            raise wrong_type(
                display, col.name, KIND_EXPECTED[col.kind], f"a column of type {dtype}"
            )


def _checks(frame: pl.LazyFrame) -> list[Check]:
    schema = frame.collect_schema()
    out = []
    for col in COST_LINES.columns:
        if col.name not in schema:
            continue
        dtype = schema[col.name]
        if dtype != pl.String:
            # a Parquet column whose type cannot hold the concept (a boolean cost, an integer
            # date) is checked, so it is one message rather than a conversion error
            if col.kind == "decimal":  # numbers too: an amount out of range is refused
                out.append(Check(col.name, "a decimal number", money(pl.col(col.name), dtype)))
            elif col.kind == "datetime" and not isinstance(dtype, pl.Datetime | pl.Date):
                parsed = timestamp(pl.col(col.name), dtype)
                out.append(Check(col.name, "a date-time like 2024-09-01T00:00:00Z", parsed))
            continue
        if col.kind == "decimal":
            out.append(Check(col.name, "a decimal number", money(pl.col(col.name), pl.String)))
        elif col.kind == "datetime":
            out.append(
                Check(
                    col.name,
                    "a date-time like 2024-09-01T00:00:00Z",
                    timestamp(pl.col(col.name), pl.String),
                )
            )
    for start, end in (
        ("ChargePeriodStart", "ChargePeriodEnd"),
        ("BillingPeriodStart", "BillingPeriodEnd"),
    ):
        if {start, end} <= set(schema):
            out.append(not_before(end, start, schema))
    out += [
        _in_utc(c, schema[c]) for c in ("BillingPeriodStart", "BillingPeriodEnd") if c in schema
    ]
    return out


def _in_utc(name: str, dtype: pl.DataType) -> Check:
    """A billing period bound written with a non-zero UTC offset is refused; a charge period's
    is converted to UTC. An instant is an instant, but a month is named by its start: FOCUS
    requires date/times in UTC, and 2024-09-01T00:00:00+02:00 converted is 2024-08-31T22:00Z,
    which would file September under August."""
    raw = pl.col(name)
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone in (None, "UTC", "Etc/UTC"):
            shifted = pl.lit(False)
        else:
            utc = raw.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            shifted = raw.dt.replace_time_zone(None) != utc
    elif dtype == pl.String:
        offset = (
            raw.str.strip_chars().str.extract(r"[0-9.]([+-]\d{2}:?\d{2})$").str.replace(":", "")
        )
        shifted = offset.is_not_null() & ~offset.is_in(["+0000", "-0000"])
    else:
        shifted = pl.lit(False)
    return Check(
        name,
        "a UTC date-time such as 2024-09-01T00:00:00Z (FOCUS requires UTC; converting this "
        "offset would move the billing period into another month)",
        pl.when(shifted.fill_null(False)).then(None).otherwise(timestamp(raw, dtype)),
        problem="is not in UTC",
    )


def _json_object(expr: pl.Expr) -> pl.Expr:
    text = expr.str.strip_chars()
    return (
        pl.when(text.is_null() | text.is_in([*NULLS, "{}"]))
        .then(None)
        .when(text.str.starts_with("{"))
        .then(text)
        .otherwise(pl.concat_str(pl.lit("{"), text, pl.lit("}")))  # Azure EA: no outer braces
    )


def normalise(frame: pl.LazyFrame, display: str) -> pl.LazyFrame:
    """FOCUS columns to contract types; unknown columns are dropped, absent ones stay null."""
    schema = frame.collect_schema()
    exprs = []
    for col in COST_LINES.columns:
        if col.name not in schema or col.name in OURS:
            continue
        raw, dtype = pl.col(col.name), schema[col.name]
        if col.kind == "decimal":
            expr = money(raw, dtype)
        elif col.kind == "datetime":
            expr = timestamp(raw, dtype)
        elif col.kind == "json":
            expr = _json_object(raw if dtype == pl.String else raw.cast(pl.String))
        elif col.kind == "int":
            expr = raw.cast(pl.Int64, strict=False)
        elif col.kind == "bool":
            expr = raw if dtype == pl.Boolean else raw.cast(pl.String).str.to_lowercase() == "true"
        else:
            text = raw if dtype == pl.String else raw.cast(pl.String)
            # Parquet keeps the placeholders that CSV reading already turned into nulls.
            expr = pl.when(text.is_in(NULLS)).then(None).otherwise(text)
        exprs.append(expr.alias(col.name))
    present = {e.meta.output_name() for e in exprs}
    exprs += [
        pl.lit(None, dtype=COST_LINES.column(n).dtype).alias(n)
        for n in ("ListCost", "EffectiveCost", "ContractedCost")
        if n not in present
    ]
    out = frame.select(exprs)
    fixes = [pl.lit(display).alias("x_SourceFile")]
    if "ChargeFrequency" in schema:
        freq = pl.col("ChargeFrequency")
        fixes.append(
            freq.str.to_lowercase()
            .replace_strict(FREQUENCIES, default=freq, return_dtype=pl.String)
            .alias("ChargeFrequency")
        )
    sub = pl.concat_str(pl.lit("Other ("), pl.col("ServiceCategory"), pl.lit(")"))
    if "ServiceSubcategory" in schema:
        sub = pl.coalesce(pl.col("ServiceSubcategory"), sub)
    fixes.append(sub.alias("ServiceSubcategory"))
    provider = pl.col("ProviderName") if "ProviderName" in schema else pl.lit(None, pl.String)
    for name in ("PublisherName", "InvoiceIssuerName"):
        own = pl.col(name) if name in schema else pl.lit(None, pl.String)
        fixes.append(pl.coalesce(own, provider).alias(name))
    # Some providers (OCI) leave cost columns the spec makes mandatory empty: without
    # negotiated prices, contracted = list cost; without list or effective, the billed cost.
    billed = pl.col("BilledCost")
    fixes.append(pl.coalesce(pl.col("ListCost"), billed).alias("ListCost"))
    fixes.append(pl.coalesce(pl.col("EffectiveCost"), billed).alias("EffectiveCost"))
    fixes.append(
        pl.coalesce(pl.col("ContractedCost"), pl.col("ListCost"), billed).alias("ContractedCost")
    )
    return out.with_columns(fixes)


def _keys(frame: pl.LazyFrame) -> pl.DataFrame:
    s = frame.collect_schema()
    return (
        frame.select(
            pl.col("BillingAccountId").cast(pl.String).alias("account"),
            timestamp(pl.col("BillingPeriodStart"), s["BillingPeriodStart"])
            .dt.strftime("%Y-%m")
            .alias("period"),
            pl.col("BillingCurrency").cast(pl.String).alias("currency"),
            money(pl.col("BilledCost"), s["BilledCost"]).alias("cost"),
        )
        .group_by("account", "period", "currency")
        .agg(pl.len().alias("rows"), pl.col("cost").sum().alias("total"))
        .collect()
    )


def _of(lines: pl.LazyFrame, account: str, period: str) -> pl.LazyFrame:
    """The lines of one billing account and period."""
    return lines.filter(
        (pl.col("BillingAccountId") == account)
        & (pl.col("BillingPeriodStart").dt.strftime("%Y-%m") == period)
    )


def _file_pieces(lines: pl.LazyFrame) -> Callable[[], Iterator[pl.DataFrame]]:
    def pieces() -> Iterator[pl.DataFrame]:
        yield from lines.collect_batches(chunk_size=CHUNK_ROWS)

    return pieces


def read(target: Path, work: Path, display: Display = str) -> Loads:
    """Every (billing account, billing period) in the FOCUS files under `target`."""
    frames: list[pl.LazyFrame] = []
    totals: dict[tuple[str, str], dict[str, Decimal]] = {}
    files: dict[tuple[str, str], list[SourceFile]] = {}
    holding: dict[tuple[str, str], list[int]] = {}  # the frames holding each key's lines
    listed = focus_delivery.list_files(target, display)
    skipped = listed.skipped
    for path in listed.files:
        shown = display(path)
        sniffed = sniff(path, shown, work)
        _check_columns(sniffed)
        if sniffed.container == PARQUET:  # its frames are collected by the store, later
            check_parquet_data(path, shown)
        frame = _scan(sniffed)
        header = 1 if sniffed.container != PARQUET else 0
        _check_types(frame, shown)
        with decoding(sniffed):
            raise_bad(shown, first_bad(frame, _checks(frame)), header)
            keys = _keys(frame)
        if keys.height == 0:
            raise InputError(
                "the file has a header but no data rows",
                file=shown,
                expected="at least one cost line",
                found="0 rows",
            )
        source_file = SourceFile.of(path, shown)
        for account, period, currency, _, total in keys.iter_rows():
            if account is None or currency is None or period is None:
                raise InputError(
                    "cost lines without a billing account, period or currency",
                    file=shown,
                    location="column BillingAccountId / BillingPeriodStart / BillingCurrency",
                    expected="a value on every line",
                    found="empty",
                )
            per = totals.setdefault((account, period), {})
            per[currency] = per.get(currency, Decimal(0)) + Decimal(total)
            files.setdefault((account, period), []).append(source_file)
            holding.setdefault((account, period), []).append(len(frames))
        frames.append(normalise(frame, shown))
    if not frames:
        return Loads(skipped=skipped)
    lines = pl.concat(frames, how="diagonal_relaxed") if len(frames) > 1 else frames[0]
    loads = Loads(skipped=skipped)
    for (account, period), by_currency in sorted(totals.items()):
        if len(by_currency) > 1:
            raise InputError(
                "more than one currency in one billing period",
                file=display(target),
                location=f"account {account}, period {period}",
                expected="one currency per billing account and period",
                found=", ".join(sorted(by_currency)),
                hint="totals are never summed across currencies; split the export by currency",
            )
        ((currency, total),) = by_currency.items()
        mine = _of(lines, account, period)
        loads.append(
            PeriodLoad(
                source=SOURCE,
                billing_account=account,
                billing_period=period,
                currency=currency,
                files=list(dict.fromkeys(files[(account, period)])),
                lines=mine,
                source_total=total,
                label=display(target),
                by_file=[
                    _file_pieces(_of(frames[i], account, period))
                    for i in dict.fromkeys(holding[(account, period)])
                ],
            )
        )
    azure_runs.one_run_per_period(loads, listed.runs, display(target))
    return loads


@contextlib.contextmanager
def open_export(target: Path, display: Display = str) -> Iterator[Loads]:
    with tempfile.TemporaryDirectory(prefix="finops-focus-") as tmp:
        yield read(target, Path(tmp), display)
