"""How AWS delivers the sample CUR 2.0: a Data Export with the "create new file" preference.

`aws/` stands for `s3://acme-billing/aws/`: the export `acme-cur2` writes each refresh of a
month to `data/BILLING_PERIOD=YYYY-MM/<executionId>/` and then overwrites the month's
`metadata/BILLING_PERIOD=YYYY-MM/acme-cur2-Manifest.json` to name that execution's files, so
older executions stay beside the newest one. Execution ids and delivery times derive from the
seed; the files' mtimes are set to the delivery times (what S3 would report as LastModified).
"""

from __future__ import annotations

import json
import os
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ingest.sample.cur2 import COLUMNS

EXPORT = "acme-cur2"
BUCKET, PREFIX = "acme-billing", "aws"
# A month's first delivery lands two days after it closes; a refresh (restatement) later.
DELIVERY_DAYS = (2, 19)


def execution_id(seed: int, month: str, n: int) -> str:
    """The n-th execution (0 = first) of a month, as a UUID drawn from the seed."""
    return str(
        uuid.UUID(int=random.Random(f"{seed}:{EXPORT}:{month}:{n}").getrandbits(128), version=4)
    )


def delivered_at(month: str, n: int) -> datetime:
    y, m = (int(x) for x in month.split("-"))
    month_end = datetime(y + m // 12, m % 12 + 1, 1, tzinfo=UTC)
    return month_end + timedelta(days=DELIVERY_DAYS[min(n, len(DELIVERY_DAYS) - 1)], hours=6)


def export_root(out: Path) -> Path:
    return out / PREFIX / EXPORT


def data_dir(out: Path, month: str, execution: str) -> Path:
    return export_root(out) / "data" / f"BILLING_PERIOD={month}" / execution


def _type(arrow_type) -> str:
    text = str(arrow_type)
    return {"timestamp[ms]": "timestamp", "map<string, string>": "map<string,string>",
            "map<string, double>": "map<string,double>"}.get(text, text)  # fmt: skip


def write_manifest(
    out: Path, month: str, execution: str, files: list[Path], when: datetime
) -> None:
    """The month's manifest, naming `files` (written after them, as AWS does)."""
    root = export_root(out)
    start = f"{month}-01T00:00:00.000Z"
    y, m = (int(x) for x in month.split("-"))
    end = f"{y + m // 12}-{m % 12 + 1:02d}-01T00:00:00.000Z"
    doc = {
        "version": "1.0",
        "exportName": EXPORT,
        "executionId": execution,
        "billingPeriod": {"start": start, "end": end},
        "bucket": BUCKET,
        "dataFiles": [
            f"s3://{BUCKET}/{PREFIX}/{EXPORT}/{f.relative_to(root).as_posix()}" for f in files
        ],
        "columns": [{"name": n, "type": _type(t)} for n, t in COLUMNS],
    }
    path = root / "metadata" / f"BILLING_PERIOD={month}" / f"{EXPORT}-Manifest.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    stamp = when.timestamp()
    for f in files:
        os.utime(f, (stamp, stamp))
    os.utime(path, (stamp + 60, stamp + 60))
