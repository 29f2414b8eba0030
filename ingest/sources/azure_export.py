"""Azure cost-details files: listing them and reading one as text under canonical names.

A folder may hold `actual/` and `amortized/` exports (Cost Management's layout, or the names
`ActualCost` / `AmortizedCost` in the file names); each file's view is taken from its path.
Files are CSV (optionally gzip-compressed) or Parquet. Every column is read as text (a Parquet
column's type is checked first); ingest/sources/azure.py types them. Export runs with manifests are
listed by ingest/sources/azure_runs.py, which hands their files here.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingest.sources.azure_headers import ALIASES, Header, canonical_header, is_focus
from ingest.sources.detect import (
    bad_gzip,
    check_rows,
    check_text_encoding,
    check_utf8,
    csv_fault,
    parquet_columns,
)
from ingest.warehouse.load_contract import SourceFile
from models.errors import InputError

# Azure writes "Unassigned" where Marketplace rows have no meter data.
NULLS = ["", "NULL", "null", "Unassigned"]
SUFFIXES = (".csv", ".gz", ".parquet")
# Parquet exports type their columns; these must hold numbers or dates (or text of them).
NUMBERS = ("Cost", "Quantity", "PayGPrice", "UnitPrice", "PaygCost")
DATES = ("Date", "BillingPeriodStartDate")


@dataclass(frozen=True)
class ExportFile:
    path: Path
    display: str  # what messages and the loads record call it
    kind: str  # "actual", "amortized" or "cost" (a view not named)

    @property
    def is_parquet(self) -> bool:
        return is_parquet(self.path)

    @property
    def row_word(self) -> str:
        """How messages point into the file: CSV lines count the header, Parquet rows do not."""
        return "row" if self.is_parquet else "line"


def discover(target: Path, display: str | None = None) -> list[ExportFile]:
    """The export files under `target`: a file, or a folder (with actual/ and amortized/)."""
    label = display or str(target)
    if target.is_file():
        return [ExportFile(target, label, _kind(target.name))]
    if not target.is_dir():
        raise InputError("no such file or folder", file=label, hint="check the path")
    files = sorted(
        p for p in target.rglob("*") if p.is_file() and p.name.lower().endswith(SUFFIXES)
    )
    if not files:
        raise InputError(
            "no cost-details files (*.csv, *.csv.gz, *.parquet) in the folder",
            file=label,
            hint="point at the export folder or a file",
        )
    out = []
    for p in files:
        rel = p.relative_to(target)
        kind = _kind(str(rel))
        out.append(ExportFile(p, f"{label.rstrip('/')}/{rel}", kind))
    return out


def _kind(name: str) -> str:
    low = name.lower()
    if "amortized" in low or "amortised" in low:
        return "amortized"
    if "actual" in low:
        return "actual"
    return "cost"


def _open_text(path: Path) -> io.TextIOBase:
    if path.name.lower().endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8-sig", newline="")
    return path.open(encoding="utf-8-sig", newline="")


def is_focus_export(exports: list[ExportFile]) -> bool:
    """True when every file is Azure's FOCUS export (FocusCost), read by ingest/sources/focus.py."""
    return bool(exports) and all(is_focus(read_header(e.path, e.display)) for e in exports)


def is_parquet(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(4) == b"PAR1"


def read_header(path: Path, display: str) -> list[str]:
    if is_parquet(path):
        return list(parquet_columns(path, display))
    check_text_encoding(path, display)
    try:
        with _open_text(path) as fh:
            row = next(csv.reader(fh), None)
    except csv.Error as exc:  # a header longer than a field may be, a stray quote
        raise csv_fault(display, 1, 1, exc) from None
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:  # cut before the header's end
        raise bad_gzip(display, exc) from None
    except (UnicodeDecodeError, OSError) as exc:
        if isinstance(exc, UnicodeDecodeError) and not path.name.lower().endswith(".gz"):
            check_utf8(path, display)  # the line and bytes of the first fault, as elsewhere
        raise InputError(
            f"cannot read the file: {exc}",
            file=display,
            expected="a UTF-8 CSV export (optionally gzip-compressed)",
        ) from None
    if not row:
        raise InputError("the file is empty", file=display, expected="a header row")
    return row


def read_export(export: ExportFile, index: int = 0) -> tuple[pl.LazyFrame, Header, SourceFile]:
    """One file as text columns under canonical names, with `_file` and `_line` (1-based),
    and the file's digest (taken by the same read that checks a CSV's records)."""
    names = read_header(export.path, export.display)
    if is_focus(names):
        raise InputError(
            "Azure's FOCUS export mixed with cost-details files",
            file=export.display,
            hint="put FocusCost exports in their own folder",
        )
    header = canonical_header(names, export.display)
    digest = None
    if export.is_parquet:
        frame = _parquet_as_text(export, header)
    else:
        digest = check_rows(export.path, export.display, final_newline=False)
        frame = _csv_as_text(export, header)
    missing = [c for c in catalog_columns() if c not in header.columns]
    frame = frame.with_columns(
        *[pl.lit(None, pl.String).alias(c) for c in missing],
        pl.lit(index, pl.Int32).alias("_file"),
        pl.col("_line").cast(pl.Int64),
    )
    source = (
        SourceFile(export.display, digest, export.path.stat().st_size)
        if digest is not None
        else SourceFile.of(export.path, export.display)
    )
    return frame.select([*sorted(catalog_columns()), "_file", "_line"]), header, source


def _csv_as_text(export: ExportFile, header: Header) -> pl.LazyFrame:
    source: Path | bytes = export.path
    if export.path.name.lower().endswith(".gz"):
        with gzip.open(export.path, "rb") as fh:
            source = fh.read()
    frame = pl.scan_csv(
        source,
        infer_schema=False,
        null_values=NULLS,
        # check_rows has proven the text UTF-8 (or refused the file): no bytes to replace
        encoding="utf8",
        truncate_ragged_lines=False,
        # a CSV's data starts on line 2, after its header (a streaming row number)
        row_index_name="_line",
        row_index_offset=2,
    )
    renames = {raw: canon for canon, raw in header.columns.items() if canon in USED}
    return frame.select(
        *[pl.col(raw).alias(canon) for raw, canon in renames.items()], pl.col("_line")
    )


def _parquet_as_text(export: ExportFile, header: Header) -> pl.LazyFrame:
    """A Parquet export's columns as the text a CSV export would hold, after a type check.

    Numbers and dates keep their meaning (a float as its shortest exact text, a timestamp as
    its day); a column whose type cannot hold its concept is refused before anything is read.
    """
    frame = pl.scan_parquet(export.path, row_index_name="_line", row_index_offset=1)
    schema = frame.collect_schema()
    out = []
    for canon, raw in header.columns.items():
        if canon not in USED:
            continue
        dtype, col = schema[raw], pl.col(raw)
        if dtype == pl.String:
            text = col
        elif canon in NUMBERS and dtype.is_numeric():
            text = col.cast(pl.String)
        elif canon in DATES and dtype in (pl.Date, pl.Datetime):
            text = col.dt.strftime("%Y-%m-%d")
        elif canon not in NUMBERS and canon not in DATES and not dtype.is_nested():
            text = col.cast(pl.String)
        else:
            raise InputError(
                f"column {raw} has the wrong type",
                file=export.display,
                location=f"column {raw}",
                expected="a number (or its text)"
                if canon in NUMBERS
                else "a date or timestamp (or its text)"
                if canon in DATES
                else "a text value",
                found=f"Parquet {dtype}",
                hint="export the data again from Cost Management, or fix the column's type",
            )
        out.append(pl.when(text.is_in(NULLS)).then(None).otherwise(text).alias(canon))
    return frame.select(*out, pl.col("_line"))


# The canonical columns ingest/sources/azure.py reads; the rest of an export is not loaded.
USED = (
    "AdditionalInfo", "AvailabilityZone", "BenefitId", "BenefitName", "BillingAccountId",
    "BillingAccountName", "BillingCurrency", "BillingPeriodStartDate", "BillingProfileId",
    "ChargeType", "ConsumedService", "Cost", "Date", "Frequency", "InvoiceId", "MeterCategory",
    "MeterId", "MeterName", "MeterRegion", "MeterSubCategory", "PartNumber", "PayGPrice",
    "PaygCost", "PricingCurrency", "PricingModel", "ProductId", "ProductName", "PublisherName",
    "PublisherType", "Quantity", "ReservationId", "ReservationName", "ResourceId",
    "ResourceLocation", "ResourceName", "ResourceType", "ServiceName", "SubscriptionId",
    "SubscriptionName", "Tags", "UnitOfMeasure", "UnitPrice",
)  # fmt: skip


def catalog_columns() -> list[str]:
    return [c for c in ALIASES if c in USED]
