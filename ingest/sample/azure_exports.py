"""Azure cost details delivered as Cost Management export runs with "overwrite" off.

Two exports (`acme-actual`: ActualCost, `acme-amortized`: AmortizedCost) write each month as
`azure/<export>/<YYYYMMDD-YYYYMMDD>/<runId>/part_0_0001.csv` plus the run's `manifest.json`.
One month is delivered twice: a month-to-date run on its last day, before that day's charges
arrived, and the closing run after the month; the reader must take the newest. One month is
written as snappy Parquet with typed columns (numbers as doubles, the date as a date).
Run ids and times derive from the seed, so the files are byte-identical per seed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

EXPORTS = {
    "actual": ("acme-actual", "ActualCost"),
    "amortized": ("acme-amortized", "AmortizedCost"),
}
ROOT_FOLDER = "cost-exports"  # the export's rootFolderPath in the container
# typed columns of the Parquet month (the rest are text, as Cost Management writes them)
DOUBLES = (
    "Quantity", "EffectivePrice", "CostInBillingCurrency", "UnitPrice", "PayGPrice",
    "CostInPricingCurrency", "CostInUsd", "PaygCostInBillingCurrency", "PaygCostInUsd",
    "ExchangeRatePricingToBilling",
)  # fmt: skip
DATES = ("Date",)


def run_id(seed: int, export: str, month: str, n: int) -> str:
    digest = hashlib.sha256(f"{seed}/{export}/{month}/{n}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16], version=4))


def write_month(
    out: Path,
    *,
    seed: int,
    account: str,
    month: str,
    first: date,
    last: date,
    header: list[str],
    rows: dict[str, list[list[str]]],
    twice: bool,
    parquet: bool,
) -> None:
    """Every run of one month for both views: the closing run, and an earlier one if `twice`."""
    dates = f"{first:%Y%m%d}-{last:%Y%m%d}"
    closing = datetime.combine(last + timedelta(days=5), datetime.min.time())
    day_col = header.index("Date")
    last_day = last.strftime("%m/%d/%Y")
    for i, (kind, (export, export_type)) in enumerate(EXPORTS.items()):
        runs = [(closing + timedelta(hours=6, minutes=20 * i), rows[kind])]
        if twice:  # month to date, run on the last day before its charges arrived
            early = [r for r in rows[kind] if r[day_col] != last_day]
            runs.insert(
                0, (datetime.combine(last, datetime.min.time()) + timedelta(hours=6), early)
            )
        for n, (submitted, part) in enumerate(runs):
            rid = run_id(seed, export, month, n)
            folder = out / "azure" / export / dates / rid
            folder.mkdir(parents=True, exist_ok=True)
            name = "part_0_0001.parquet" if parquet else "part_0_0001.csv"
            data = _parquet(header, part) if parquet else _csv(header, part)
            (folder / name).write_bytes(data)
            manifest = _manifest(
                account, export, export_type, rid, submitted, (first, last), name, data, len(part)
            )
            (folder / "manifest.json").write_text(
                json.dumps(manifest, indent=2) + "\n", encoding="utf-8"
            )


def _csv(header: list[str], rows: list[list[str]]) -> bytes:
    text = io.StringIO(newline="")
    w = csv.writer(text, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return "\ufeff".encode() + text.getvalue().encode("utf-8")


def _parquet(header: list[str], rows: list[list[str]]) -> bytes:
    columns, fields = [], []
    for j, name in enumerate(header):
        values = [r[j] for r in rows]
        if name in DOUBLES:
            typed = [float(Decimal(v)) if v else None for v in values]
            for v, f in zip(values, typed, strict=True):  # a double must hold the exact value
                assert not v or Decimal(repr(f)) == Decimal(v), (name, v)
            columns.append(pa.array(typed, pa.float64()))
            fields.append(pa.field(name, pa.float64()))
        elif name in DATES:
            columns.append(pa.array([datetime.strptime(v, "%m/%d/%Y").date() for v in values]))
            fields.append(pa.field(name, pa.date32()))
        else:
            columns.append(pa.array(values, pa.string()))
            fields.append(pa.field(name, pa.string()))
    table = pa.Table.from_arrays(columns, schema=pa.schema(fields))
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="snappy")
    return buf.getvalue()


def _manifest(
    account: str, export: str, export_type: str, rid: str, submitted: datetime,
    span: tuple[date, date], name: str, data: bytes, count: int,
) -> dict:  # fmt: skip
    first, last = span
    dates = f"{first:%Y%m%d}-{last:%Y%m%d}"
    scope = f"/providers/Microsoft.Billing/billingAccounts/{account}"
    return {
        "manifestVersion": "2024-04-01",
        "byteCount": len(data),
        "blobCount": 1,
        "dataRowCount": count,
        "exportConfig": {
            "exportName": export,
            "resourceId": f"{scope}/providers/Microsoft.CostManagement/exports/{export}",
            "dataVersion": "2021-10-01",
            "apiVersion": "2023-07-01-preview",
            "type": export_type,
            "timeFrame": "MonthToDate",
            "granularity": "Daily",
        },
        "deliveryConfig": {
            "partitionData": True,
            "dataOverwriteBehavior": "CreateNewReport",
            "fileFormat": "Parquet" if name.endswith(".parquet") else "Csv",
            "compressionMode": "Snappy" if name.endswith(".parquet") else "None",
            "containerUri": "/subscriptions/0e9d8c7b-0000-4000-8000-000000000001/resourceGroups/"
            "rg-finops/providers/Microsoft.Storage/storageAccounts/acmefinops",
            "rootFolderPath": ROOT_FOLDER,
        },
        "runInfo": {
            "executionType": "Scheduled",
            "submittedTime": submitted.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "runId": rid,
            "startDate": f"{first:%Y-%m-%d}T00:00:00",
            "endDate": f"{min(last, submitted.date()):%Y-%m-%d}T00:00:00",
        },
        "blobs": [
            {
                "blobName": f"{ROOT_FOLDER}/{export}/{dates}/{rid}/{name}",
                "byteCount": len(data),
                "dataRowCount": count,
            }
        ],
    }
