"""Loading cost lines: stage, validate, reconcile, check for shrinkage, then commit.

A load is staged, validated and reconciled before anything is committed; then each
(source, billing account, period) partition is replaced by exactly one Delta commit, and a
`loads` record is appended (ingest/warehouse/loads_log.py). Nothing is committed unless every period
of the load passes, so a bad file never leaves half an export behind.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from ingest.warehouse import commit_race, delta_commit, loads_log
from ingest.warehouse.load_contract import LoadResult, PeriodLoad, Progress, new_load_id
from ingest.warehouse.pause import pause_point
from models.errors import InputError, ReconciliationError
from models.schema import COST_LINES, Violation, conform, validate
from models.shrink import DEFAULT_MAX_SHRINK, PeriodSize, shrink, shrink_message

if TYPE_CHECKING:
    from ingest.warehouse.store import Store

PART_COLUMNS = ("x_PartSource", "x_PartAccount", "x_PartPeriod")
KEY = ("BillingPeriodStart", "BillingAccountId", "BillingCurrency")
# Row-group min/max are written for the columns a reader can skip row groups by (times,
# amounts, quantities, line ids: month picking reads ChargePeriodStart's, the classification
# pass x_LineId's), not for the text columns: lines are in no text order, so a text range
# spans nearly every value and skips nothing, and computing them cost a third of the write.
STATISTICS = [c.name for c in COST_LINES.columns if c.dtype != pl.String]
# Dictionaries are built for text and times (a partition holds few distinct values of each),
# not for amounts, quantities and ids: nearly every value is new, so pyarrow fills a
# dictionary page only to fall back to plain encoding (a quarter of the write, larger files).
DICTIONARY = [c.name for c in COST_LINES.columns if c.dtype == pl.String or c.dtype == pl.Datetime]


def line_id_base(*key: str) -> int:
    """High 31 bits of x_LineId: a stable hash of the partition key (row number below)."""
    digest = hashlib.sha1("|".join(key).encode()).digest()
    return (int.from_bytes(digest[:4], "big") & 0x7FFFFFFF) << 32


def safe_part(value: str) -> str:
    """A partition directory value that is readable and safe on every file system."""
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in value)[:60]
    if clean != value:
        clean += "~" + hashlib.sha1(value.encode()).hexdigest()[:8]
    return clean


def load(
    store: Store,
    batches: Iterable[PeriodLoad],
    progress: Progress | None = None,
    allow_shrink: bool = False,
    max_shrink: float = DEFAULT_MAX_SHRINK,
) -> list[LoadResult]:
    """Stage, validate and reconcile every batch, then commit each as one Delta commit.

    Nothing is committed unless every batch passes, so a bad file never leaves half an
    export behind. Re-loading identical files (same sha256) commits nothing. A batch
    that would shrink its committed period beyond `max_shrink` (models.shrink) is refused
    unless `allow_shrink`: a truncated export reconciles with itself.
    """
    with store.writer():
        store.pin("cost_lines")  # what is checked below is what the commits replace
        staged: list[tuple[PeriodLoad, LoadResult, Path]] = []
        batches = list(batches)
        _check_one_delivery_per_partition(batches)
        try:
            for i, batch in enumerate(batches):
                if progress:
                    progress(f"checking {batch.billing_period}", i, len(batches))
                staged.append(_stage(store, batch))
            if not allow_shrink:
                for batch, result, _ in staged:
                    if result.status == "committed":
                        _check_shrink(store, batch, result, max_shrink)
        except BaseException:
            for _, _, path in staged:
                path.unlink(missing_ok=True)
            raise
        results = []
        for i, (batch, result, path) in enumerate(staged):
            if progress:
                progress(f"committing {batch.billing_period}", i, len(staged))
            if result.status == "committed":
                pause_point("commit")
                _commit(store, batch, result, path)
            results.append(result)
        if progress:
            progress("done", len(staged), len(staged))
        return results


def _check_one_delivery_per_partition(batches: list[PeriodLoad]) -> None:
    """Two batches of one (source, account, period) would replace each other in turn, or
    be summed by a reader that merged them: either way the month is not one delivery. This
    is refused before anything is staged, whichever reader built the batches."""
    seen: dict[tuple[str, str, str], PeriodLoad] = {}
    for batch in batches:
        key = (batch.source, batch.billing_account, batch.billing_period)
        if key in seen:
            first = seen[key]
            shown = [b.label or (b.files[0].path if b.files else "?") for b in (first, batch)]
            raise InputError(
                "two exports deliver the same billing period",
                file=shown[1],
                location=f"{batch.source}, account {batch.billing_account}, "
                f"period {batch.billing_period}",
                expected="one export per source, billing account and period",
                found=f"{shown[0]} and {shown[1]}",
                hint="ingest one of the exports (point at its own folder); loading both "
                "would count the month twice or keep whichever came last",
            )
        seen[key] = batch


def _stage(store: Store, batch: PeriodLoad) -> tuple[PeriodLoad, LoadResult, Path]:
    load_id = new_load_id()
    label = batch.label or (batch.files[0].path if batch.files else batch.source)
    path = store.staging_dir() / f"{load_id}.parquet"
    try:
        problems, keys = _write_staged(batch, load_id, path, label)
        pause_point("stage")
        if problems:
            shown = "; ".join(str(p) for p in problems[:5])
            more = f" (+{len(problems) - 5} more)" if len(problems) > 5 else ""
            raise InputError(
                f"{len(problems)} contract violation(s): {shown}{more}",
                file=label,
                hint="the export does not match what the reader expects; "
                "report it with the file if it is a genuine export",
            )
        _check_single_key(batch, keys, label)
        rows = int(keys["rows"].sum()) if keys.height else 0
        total = Decimal(keys["total"][0]) if keys.height else Decimal(0)
        if rows and total != batch.source_total:
            raise ReconciliationError(
                f"{batch.source} {batch.billing_account} {batch.billing_period} "
                f"{batch.currency}: warehouse total would differ from the source "
                f"by {total - batch.source_total}",
                file=label,
                expected=str(batch.source_total),
                found=str(total),
                hint="nothing was committed; this is a reader bug or a corrupt export",
            )
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    status = "unchanged" if _same_files(store, batch) else "committed"
    result = LoadResult(
        load_id=load_id,
        dataset="cost_lines",
        source=batch.source,
        billing_account=batch.billing_account,
        billing_period=batch.billing_period,
        currency=batch.currency,
        rows=rows,
        source_total=batch.source_total,
        warehouse_total=total,
        status=status,
        table_version=None,
        files=batch.files,
    )
    if status == "unchanged":
        path.unlink(missing_ok=True)
    return batch, result, path


def _write_staged(
    batch: PeriodLoad, load_id: str, path: Path, label: str
) -> tuple[list[Violation], pl.DataFrame]:
    """Conform, validate and append the batch to `path` one chunk at a time.

    Returns the contract violations (rows counted over the whole batch, first row and
    sample as in one pass) and rows/BilledCost per (period, account, currency) key.
    """
    base = line_id_base(batch.source, batch.billing_account, batch.billing_period)
    found: dict[tuple[str, str], Violation] = {}
    keys: list[pl.DataFrame] = []
    rows = 0
    writer: pq.ParquetWriter | None = None
    # Encoding a chunk to Parquet releases the GIL: it runs beside the next chunk's
    # normalisation, one chunk in flight, so memory stays one chunk larger at most.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-writer")
    pending: Future | None = None
    try:
        for chunk in batch.chunks():
            lines = conform(
                chunk.lazy().with_columns(
                    pl.lit(batch.source).alias("x_Source"),
                    pl.lit(load_id).alias("x_LoadId"),
                    (pl.int_range(pl.len(), dtype=pl.Int64) + (base + rows)).alias("x_LineId"),
                ),
                COST_LINES,
            ).collect()
            for v in validate(lines, COST_LINES):
                if v.row is None:  # a missing column or a wrong type: nothing else counts
                    return [v], COST_LINES.empty()
                seen = found.get((v.column, v.rule))
                found[(v.column, v.rule)] = (
                    Violation(v.column, v.rule, v.count, v.row + rows, v.sample)
                    if seen is None
                    else Violation(v.column, v.rule, seen.count + v.count, seen.row, seen.sample)
                )
            # the four columns first: a group-by over the whole wide frame cost 5x as much
            keys.append(
                lines.select(*KEY, "BilledCost")
                .group_by(*KEY)
                .agg(
                    pl.len().cast(pl.Int64).alias("rows"),
                    pl.col("BilledCost").sum().alias("total"),
                )
            )
            # polars' own string views go to the writer as they are (converting them to
            # Arrow's large strings cost more than a tenth of a load); the file still
            # tells readers the large-string schema it always had (`_arrow_schema`)
            table = lines.to_arrow(compat_level=pl.CompatLevel.newest())
            if writer is None:
                writer = pq.ParquetWriter(
                    path,
                    table.schema,
                    compression="zstd",
                    write_statistics=STATISTICS,
                    use_dictionary=DICTIONARY,
                    store_schema=False,
                )
                writer.add_key_value_metadata(_arrow_schema(lines.head(0).to_arrow().schema))
            if pending is not None:
                pending.result()
            pending = pool.submit(writer.write_table, table)
            rows += lines.height
        if pending is not None:
            pending.result()
        if writer is None:  # no rows: an empty file still carries the schema
            pq.write_table(COST_LINES.empty().to_arrow(), path, compression="zstd")
    except (pl.exceptions.PolarsError, pa.ArrowException) as exc:
        raise InputError(
            f"cannot convert to cost lines: {str(exc).splitlines()[0]}",
            file=label,
            hint="check the file against its export format",
        ) from exc
    finally:
        pool.shutdown(wait=True)
        if writer is not None:
            writer.close()
    if not keys:
        return list(found.values()), pl.DataFrame(
            schema={
                "BillingPeriodStart": COST_LINES.polars_schema["BillingPeriodStart"],
                "BillingAccountId": pl.String,
                "BillingCurrency": pl.String,
                "rows": pl.Int64,
                "total": COST_LINES.polars_schema["BilledCost"],
            }
        )
    merged = pl.concat(keys).group_by(*KEY).agg(pl.col("rows").sum(), pl.col("total").sum())
    return list(found.values()), merged


def _arrow_schema(schema: pa.Schema) -> dict[str, bytes]:
    """The Parquet key-value entry by which Arrow readers restore a file's Arrow types, as
    pyarrow writes it (base64 of the schema's IPC message)."""
    return {"ARROW:schema": base64.b64encode(schema.serialize().to_pybytes())}


def _check_single_key(batch: PeriodLoad, keys: pl.DataFrame, label: str) -> None:
    periods = sorted({ts.strftime("%Y-%m") for ts in keys["BillingPeriodStart"]})
    if periods and periods != [batch.billing_period]:
        raise InputError(
            "lines of more than one billing period in one load",
            file=label,
            expected=batch.billing_period,
            found=", ".join(periods),
            hint="give each billing period its own folder (or manifest)",
        )
    currencies = sorted(set(keys["BillingCurrency"]))
    if currencies and currencies != [batch.currency]:
        raise InputError(
            "more than one currency in one billing period",
            file=label,
            expected=batch.currency,
            found=", ".join(currencies),
            hint="totals are never summed across currencies; split the export by currency",
        )
    accounts = sorted(set(keys["BillingAccountId"]))
    if accounts and accounts != [batch.billing_account]:
        raise InputError(
            "lines of more than one billing account in one load",
            file=label,
            expected=batch.billing_account,
            found=", ".join(accounts),
        )


def _committed_size(store: Store, batch: PeriodLoad) -> PeriodSize | None:
    """Lines and sum(BilledCost) per currency the partition holds now (None: nothing)."""
    table = store.table("cost_lines")
    if table is None:
        return None
    parts = (
        ("x_PartSource", safe_part(batch.source)),
        ("x_PartAccount", safe_part(batch.billing_account)),
        ("x_PartPeriod", batch.billing_period),
    )
    data = table.to_pyarrow_dataset(
        file_pruning_predicate=[(k, "=", v) for k, v in parts]
    ).to_table(columns=["BillingCurrency", "BilledCost"])
    if data.num_rows == 0:
        return None
    frame = pl.DataFrame(pl.from_arrow(data))
    sums = frame.group_by("BillingCurrency").agg(pl.col("BilledCost").sum())
    totals = {str(c): Decimal(t or 0) for c, t in sums.iter_rows()}
    return PeriodSize(frame.height, totals)


def _check_shrink(store: Store, batch: PeriodLoad, result: LoadResult, max_shrink: float) -> None:
    old = _committed_size(store, batch)
    if old is None:
        return
    new = PeriodSize(
        result.rows, {result.currency or batch.currency: result.warehouse_total or Decimal(0)}
    )
    if shrink(old, new, max_shrink):
        raise InputError(
            shrink_message(batch.billing_period, old, new),
            file=batch.label or (batch.files[0].path if batch.files else batch.source),
            location=f"{batch.source}, account {batch.billing_account}",
        )


def _same_files(store: Store, batch: PeriodLoad) -> bool:
    """True when the partition's current content came from exactly these files."""
    loads = store.table("loads")
    if loads is None:
        return False
    df = pl.from_arrow(loads.to_pyarrow_table())
    assert isinstance(df, pl.DataFrame)
    prev = (
        df.filter(
            (pl.col("dataset") == "cost_lines")
            & (pl.col("source") == batch.source)
            & (pl.col("billing_account") == batch.billing_account)
            & (pl.col("billing_period") == batch.billing_period)
            & (pl.col("status") == "committed")
        )
        .sort("table_version")
        .tail(1)
    )
    if prev.height == 0:
        return False
    old = sorted(f["sha256"] for f in json.loads(prev["files"][0]))
    return old == sorted(f.sha256 for f in batch.files)


def _commit(store: Store, batch: PeriodLoad, result: LoadResult, staged: Path) -> None:
    parts = {
        "x_PartSource": safe_part(batch.source),
        "x_PartAccount": safe_part(batch.billing_account),
        "x_PartPeriod": batch.billing_period,
    }
    predicate = " AND ".join(f"{k} = '{v}'" for k, v in parts.items())
    started = datetime.now(UTC)
    record = loads_log.record(result, started)
    try:
        version = delta_commit.replace(
            store, "cost_lines", staged, parts, predicate, record, list(PART_COLUMNS)
        )
    except Exception as exc:
        if commit_race.lost(exc):
            raise commit_race.period_lost(
                batch.source, batch.billing_account, batch.billing_period
            ) from None
        raise
    store.pin("cost_lines", version)  # the next period's commit comes after this one
    result.table_version = version
    record["table_version"] = version
    record["finished_at"] = loads_log.committed_at(store, "cost_lines", version).isoformat()
    pause_point("loads")
    loads_log.append(store, [record])
    staged.unlink(missing_ok=True)
