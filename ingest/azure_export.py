"""Azure cost-details files: listing them and reading one as text under canonical names.

A folder may hold `actual/` and `amortized/` exports (Cost Management's layout, or the names
`ActualCost` / `AmortizedCost` in the file names); each file's view is taken from its path.
Files may be gzip-compressed. Every column is read as text; ingest/azure.py types them.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingest.azure_headers import ALIASES, Header, canonical_header, is_focus
from models.errors import InputError

# Azure writes "Unassigned" where Marketplace rows have no meter data.
NULLS = ["", "NULL", "null", "Unassigned"]


@dataclass(frozen=True)
class ExportFile:
    path: Path
    display: str  # what messages and the loads record call it
    kind: str  # "actual", "amortized" or "cost" (a view not named)


def discover(target: Path, display: str | None = None) -> list[ExportFile]:
    """The export files under `target`: a file, or a folder (with actual/ and amortized/)."""
    label = display or str(target)
    if target.is_file():
        return [ExportFile(target, label, _kind(target.name))]
    if not target.is_dir():
        raise InputError("no such file or folder", file=label, hint="check the path")
    files = sorted(
        p for p in target.rglob("*") if p.is_file() and p.name.lower().endswith((".csv", ".gz"))
    )
    if not files:
        raise InputError(
            "no cost-details files (*.csv, *.csv.gz) in the folder",
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
    """True when every file is Azure's FOCUS export (FocusCost), read by ingest/focus.py."""
    return bool(exports) and all(is_focus(read_header(e.path, e.display)) for e in exports)


def read_header(path: Path, display: str) -> list[str]:
    try:
        with _open_text(path) as fh:
            row = next(csv.reader(fh), None)
    except (UnicodeDecodeError, OSError, gzip.BadGzipFile) as exc:
        raise InputError(
            f"cannot read the file: {exc}",
            file=display,
            expected="a UTF-8 CSV export (optionally gzip-compressed)",
        ) from None
    if not row:
        raise InputError("the file is empty", file=display, expected="a header row")
    return row


def read_export(export: ExportFile, index: int = 0) -> tuple[pl.LazyFrame, Header]:
    """One file as text columns under canonical names, with `_file` and `_line` (1-based)."""
    names = read_header(export.path, export.display)
    if is_focus(names):
        raise InputError(
            "Azure's FOCUS export mixed with cost-details files",
            file=export.display,
            hint="put FocusCost exports in their own folder",
        )
    header = canonical_header(names, export.display)
    if export.path.name.lower().endswith(".gz"):
        with gzip.open(export.path, "rb") as fh:
            source: Path | bytes = fh.read()
    else:
        source = export.path
    frame = pl.scan_csv(
        source,
        infer_schema=False,
        null_values=NULLS,
        encoding="utf8-lossy",
        truncate_ragged_lines=False,
    )
    renames = {raw: canon for canon, raw in header.columns.items() if canon in USED}
    frame = frame.select([pl.col(raw).alias(canon) for raw, canon in renames.items()])
    missing = [c for c in catalog_columns() if c not in header.columns]
    frame = frame.with_columns(
        *[pl.lit(None, pl.String).alias(c) for c in missing],
        pl.lit(index, pl.Int32).alias("_file"),
        (pl.int_range(pl.len(), dtype=pl.Int64) + 2).alias("_line"),
    )
    return frame.select([*sorted(catalog_columns()), "_file", "_line"]), header


# The canonical columns ingest/azure.py reads; the rest of an export is not loaded.
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
