"""The `loads` log: one record per committed load, and `load_errors` for failed ones.

A load's record also travels in its Delta commit's metadata (META_KEY), so if the process
dies between the data commit and the record, the next writer restores the record
(`repair`, run under the writer lock).
"""

from __future__ import annotations

import contextlib
import json
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import polars as pl
from deltalake import write_deltalake

from ingest.warehouse.connection import commit_time
from ingest.warehouse.load_contract import LoadResult, new_load_id
from ingest.warehouse.location import delta_options, is_remote
from models.errors import DamagedWarehouseError
from models.schema import LOAD_ERRORS, LOADS
from models.urls import redact

if TYPE_CHECKING:
    from ingest.warehouse.store import Store

META_KEY = "finops.load"
# The datasets whose commits are loads (the derived ones are rebuilt, never logged).
LOGGED = ("cost_lines", "gpu_util", "assets", "training_runs", "serving_usage")


def committed_at(store: Store, dataset: str, version: int | None = None) -> datetime:
    """When the commit just made (`version`; else the latest) became visible: a load's
    finished_at, so `--as-of` that time reads that load's version. On object storage other
    writers may have committed since, so the version is looked up among the latest."""
    table = store.table(dataset)
    assert table is not None
    entries = table.history(1 if version is None else 50)
    mine = [e for e in entries if version is None or e.get("version") == version]
    return commit_time((mine or entries)[0]["timestamp"])


def record(result: LoadResult, started: datetime) -> dict:
    return {
        "load_id": result.load_id,
        "dataset": result.dataset,
        "source": result.source,
        "billing_account": result.billing_account,
        "billing_period": result.billing_period,
        "currency": result.currency,
        "files": redact(json.dumps([f.__dict__ for f in result.files])),
        "rows": result.rows,
        "source_total": None if result.source_total is None else str(result.source_total),
        "warehouse_total": (
            None if result.warehouse_total is None else str(result.warehouse_total)
        ),
        "status": result.status,
        "message": None,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "table_version": None,
    }


def append(store: Store, records: list[dict]) -> None:
    frame = pl.DataFrame(
        [
            {
                **r,
                "source_total": None if r["source_total"] is None else Decimal(r["source_total"]),
                "warehouse_total": (
                    None if r["warehouse_total"] is None else Decimal(r["warehouse_total"])
                ),
                "started_at": datetime.fromisoformat(r["started_at"]),
                "finished_at": datetime.fromisoformat(r["finished_at"]),
            }
            for r in records
        ],
        schema=LOADS.polars_schema,
    )
    path = store.table_path("loads")
    write_deltalake(str(path), frame.to_arrow(), mode="append", storage_options=delta_options(path))


def record_error(store: Store, dataset: str, source: str, target: str, error: Exception) -> None:
    """Keep a failed load's message for the Data health page; nothing else changes.
    A damaged warehouse is not written to at all."""
    if isinstance(error, DamagedWarehouseError) or not _writable(store):
        return
    row = {
        "load_id": new_load_id(),
        "dataset": dataset,
        "source": source,
        "target": redact(target),  # the record (and its Delta statistics) keeps no secret
        "error": type(error).__name__,
        "message": redact(str(error)),
        "at": datetime.now(UTC),
    }
    frame = pl.DataFrame([row], schema=LOAD_ERRORS.polars_schema)
    with contextlib.suppress(Exception):  # best effort: the error itself is what is shown
        store.root.mkdir(parents=True, exist_ok=True)
        path = store.table_path("load_errors")
        write_deltalake(
            str(path), frame.to_arrow(), mode="append", storage_options=delta_options(path)
        )


def _writable(store: Store) -> bool:
    """Whether a record can be added (tried with a file, not guessed from mode bits: a
    read-only mount or a dropped capability says no only when asked)."""
    if is_remote(store.root):
        return True  # a refused write is caught where it is tried
    try:
        folder = store.table_path("load_errors")
        folder = folder if folder.is_dir() else store.root if store.root.is_dir() else None
        if folder is None:
            return True  # a warehouse not made yet: the write creates it
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


# On object storage other writers run beside this one: a commit younger than this may be
# one whose writer is appending its record right now, not one whose writer died.
LIVE_WRITER_S = 600


def repair(store: Store) -> None:
    """Restore loads records of commits whose process died before recording them."""
    youngest = None
    if is_remote(store.root):
        youngest = (datetime.now(UTC).timestamp() - LIVE_WRITER_S) * 1000
    loads = store.table("loads")
    known: set[str] = set()
    if loads is not None:
        known = set(pl.from_arrow(loads.to_pyarrow_table().select(["load_id"]))["load_id"])
    missing = []
    for dataset in LOGGED:
        table = store.table(dataset)
        if table is None:
            continue
        for entry in table.history():
            raw = entry.get(META_KEY)
            if not raw or (youngest is not None and entry["timestamp"] > youngest):
                continue
            lost = json.loads(raw)
            if lost["load_id"] not in known:
                lost["table_version"] = entry["version"]
                lost["finished_at"] = commit_time(entry["timestamp"]).isoformat()
                missing.append(lost)
                known.add(lost["load_id"])
    if missing:
        append(store, missing)
