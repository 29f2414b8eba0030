"""The warehouse writer — the only module that changes the warehouse (DESIGN §5).

A load is staged, validated and reconciled before anything is committed; then each
(dataset, partition) is replaced by exactly one Delta commit, and a `loads` record is
appended. The loads record also travels in the commit's own metadata, so if the process dies
between the two commits the next writer restores the record (`_repair_loads`).

Only one writer at a time (an advisory lock file); readers never take it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.exceptions import TableNotFoundError
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from ingest.input_path import os_error
from ingest.pause import pause_point
from ingest.warehouse import commit_time, damaged, local_path, location, missing_columns
from models.errors import DamagedWarehouseError, InputError, ReconciliationError, WarehouseError
from models.schema import COST_LINES, LOAD_ERRORS, LOADS, Table, Violation, conform, validate
from models.shrink import DEFAULT_MAX_SHRINK, PeriodSize, shrink, shrink_message
from models.urls import redact

Progress = Callable[[str, int, int], None]
META_KEY = "finops.load"
# Rows staged at a time: memory follows this, not the size of the billing period.
CHUNK_ROWS = 100_000
PART_COLUMNS = {
    "cost_lines": ("x_PartSource", "x_PartAccount", "x_PartPeriod"),
}


@dataclass(frozen=True)
class SourceFile:
    path: str
    sha256: str
    bytes: int

    @classmethod
    def of(cls, path: Path, display: str | None = None) -> SourceFile:
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
        return cls(display or str(path), digest.hexdigest(), path.stat().st_size)


@dataclass
class PeriodLoad:
    """One (source, billing account, billing period) of cost lines, ready to be committed.

    `lines` holds the period's rows in (or castable to) the cost_lines schema; the store adds
    x_Source, x_LoadId and x_LineId. `source_total` is the sum of the source's own cost column
    for the period at scale 12, computed by the reader independently of `lines`.
    `pieces`, when a reader can offer it, yields the same rows in the same order as frames of
    about CHUNK_ROWS rows (e.g. from Parquet row groups); otherwise polars streams `lines`.
    """

    source: str
    billing_account: str
    billing_period: str  # YYYY-MM
    currency: str
    files: list[SourceFile]
    lines: pl.LazyFrame
    source_total: Decimal
    label: str = ""  # what to call the batch in messages (a folder, a URI)
    pieces: Callable[[], Iterator[pl.DataFrame]] | None = None

    def chunks(self) -> Iterator[pl.DataFrame]:
        """The period's rows in order, a bounded number at a time."""
        if self.pieces is not None:
            return self.pieces()
        return iter(self.lines.collect_batches(chunk_size=CHUNK_ROWS))


@dataclass
class LoadResult:
    load_id: str
    dataset: str
    source: str
    billing_account: str
    billing_period: str
    currency: str | None
    rows: int
    source_total: Decimal | None
    warehouse_total: Decimal | None
    status: str  # committed | unchanged
    table_version: int | None
    files: list[SourceFile] = field(default_factory=list)

    @property
    def difference(self) -> Decimal | None:
        if self.source_total is None or self.warehouse_total is None:
            return None
        return self.warehouse_total - self.source_total


def _local_path(uri: str) -> str:
    """One spelling of a data file's location, whether Delta gives it as an absolute path or
    a file:// URI and the table was opened by a relative path (`./data/warehouse`, the
    default) or through a symlink: vacuum compares the two, and a mismatch would read every
    live file as an orphan."""
    return os.path.normcase(os.path.realpath(local_path(uri)))


def new_load_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


# What the store and the derived-data code leave in _staging/: `<load id>[-dataset].parquet`,
# `<dataset>-<load id>[.parquet]` and DuckDB's `duckdb-<uuid>` spill folders. Vacuum removes
# these names only, so a file someone else put there is never deleted.
_LOAD_ID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
STAGED_NAME = re.compile(
    rf"^(?:(?:[a-z_]+-)?{_LOAD_ID}(?:-[a-z_]+)?(?:\.parquet)?|duckdb-[0-9a-f]{{32}})$"
)


LOCK_NAME = ".writer.lock"  # the writer's advisory lock, in the warehouse folder


def writing(root: Path | str) -> bool:
    """Whether a writer holds the warehouse's lock now (readers never take it; this probe
    takes a shared lock for an instant and creates nothing)."""
    try:
        fh = (Path(root) / LOCK_NAME).open("rb")
    except OSError:  # no lock file: nobody has ever written here
        return False
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
        return False


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


class Store:
    """Writer over one warehouse folder."""

    def __init__(self, root: Path | str):
        self.root = location(root)

    # ---- paths and tables ---------------------------------------------------------------

    def table_path(self, name: str) -> Path:
        return self.root / name

    def table(self, name: str) -> DeltaTable | None:
        """The table's current version; None when it has no commit yet (the writer checked
        at `writer()` that no table lost its log). A log Delta cannot read is damage, never
        an empty table (`finops check` says what to do)."""
        try:
            return DeltaTable(str(self.table_path(name)))
        except TableNotFoundError:
            return None
        except Exception as exc:  # DeltaError, DeltaProtocolError, OSError...
            raise damaged(self.root, name, exc) from None

    @contextlib.contextmanager
    def writer(self, wait_s: float = 600.0) -> Iterator[None]:
        """Exclusive writer lock; waits for another ingest to finish rather than failing.
        A warehouse this process may not write (permissions, a read-only mount) is refused
        here, before anything is read or staged."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = (self.root / LOCK_NAME).open("a+")
        except OSError as exc:
            raise os_error(exc, warehouse=self.root) from None
        with lock as fh:
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise WarehouseError(
                            "another finops process is writing to the warehouse",
                            file=str(self.root),
                            hint="wait for it to finish, then run again",
                            retryable=True,
                        ) from None
                    time.sleep(0.2)
            try:
                from ingest.health_check import guard

                guard(self.root)  # never write over a broken log or around lost files
                self._repair_loads()
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def staging_dir(self) -> Path:
        path = self.root / "_staging"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def drop_empty_staging(self) -> None:
        """Remove _staging when nothing is left in it (a vacuumed warehouse has none)."""
        with contextlib.suppress(OSError):
            (self.root / "_staging").rmdir()  # refuses a folder that is not empty

    # ---- cost lines -----------------------------------------------------------------------

    def load_cost_lines(
        self,
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
        with self.writer():
            staged: list[tuple[PeriodLoad, LoadResult, Path]] = []
            batches = list(batches)
            self._check_one_delivery_per_partition(batches)
            try:
                for i, batch in enumerate(batches):
                    if progress:
                        progress(f"checking {batch.billing_period}", i, len(batches))
                    staged.append(self._stage_cost_lines(batch))
                if not allow_shrink:
                    for batch, result, _ in staged:
                        if result.status == "committed":
                            self._check_shrink(batch, result, max_shrink)
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
                    self._commit_cost_lines(batch, result, path)
                results.append(result)
            if progress:
                progress("done", len(staged), len(staged))
            return results

    @staticmethod
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

    def _stage_cost_lines(self, batch: PeriodLoad) -> tuple[PeriodLoad, LoadResult, Path]:
        load_id = new_load_id()
        label = batch.label or (batch.files[0].path if batch.files else batch.source)
        path = self.staging_dir() / f"{load_id}.parquet"
        try:
            problems, keys = self._write_staged(batch, load_id, path, label)
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
            self._check_single_key(batch, keys, label)
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
        status = "unchanged" if self._same_files(batch) else "committed"
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
        self, batch: PeriodLoad, load_id: str, path: Path, label: str
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
                        else Violation(
                            v.column, v.rule, seen.count + v.count, seen.row, seen.sample
                        )
                    )
                keys.append(
                    lines.group_by("BillingPeriodStart", "BillingAccountId", "BillingCurrency").agg(
                        pl.len().cast(pl.Int64).alias("rows"),
                        pl.col("BilledCost").sum().alias("total"),
                    )
                )
                table = lines.to_arrow()
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema, compression="zstd")
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
        merged = (
            pl.concat(keys)
            .group_by("BillingPeriodStart", "BillingAccountId", "BillingCurrency")
            .agg(pl.col("rows").sum(), pl.col("total").sum())
        )
        return list(found.values()), merged

    @staticmethod
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

    def _committed_size(self, batch: PeriodLoad) -> PeriodSize | None:
        """Lines and sum(BilledCost) per currency the partition holds now (None: nothing)."""
        table = self.table("cost_lines")
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

    def _check_shrink(self, batch: PeriodLoad, result: LoadResult, max_shrink: float) -> None:
        old = self._committed_size(batch)
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

    def _same_files(self, batch: PeriodLoad) -> bool:
        """True when the partition's current content came from exactly these files."""
        loads = self.table("loads")
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

    def _commit_cost_lines(self, batch: PeriodLoad, result: LoadResult, staged: Path) -> None:
        parts = {
            "x_PartSource": safe_part(batch.source),
            "x_PartAccount": safe_part(batch.billing_account),
            "x_PartPeriod": batch.billing_period,
        }
        predicate = " AND ".join(f"{k} = '{v}'" for k, v in parts.items())
        started = datetime.now(UTC)
        record = self._record(result, started)
        version = self._replace(
            "cost_lines", staged, parts, predicate, record, list(PART_COLUMNS["cost_lines"])
        )
        result.table_version = version
        record["table_version"] = version
        record["finished_at"] = self._committed_at("cost_lines").isoformat()
        pause_point("loads")
        self._append_loads([record])
        staged.unlink(missing_ok=True)

    # ---- generic commit -------------------------------------------------------------------

    def _replace(
        self,
        dataset: str,
        staged: Path,
        constants: dict[str, str],
        predicate: str,
        record: dict,
        partition_by: list[str] | None,
    ) -> int:
        """One Delta commit replacing the rows matching `predicate` by the staged file's rows."""
        whole = " AND ".join(f"{k} = '{v}'" for k, v in constants.items())
        if constants and partition_by == list(constants) and predicate == whole:
            # only when the predicate is the whole partition (gpu_util narrows it by host)
            return self._replace_partition(dataset, staged, constants, record)
        source = pq.ParquetFile(staged)
        schema = source.schema_arrow
        for name in constants:
            schema = schema.append(pa.field(name, pa.string()))

        def batches() -> Iterator[pa.RecordBatch]:
            for rb in source.iter_batches(batch_size=256_000):
                extra = [pa.array([v] * rb.num_rows, pa.string()) for v in constants.values()]
                yield pa.RecordBatch.from_arrays([*rb.columns, *extra], schema=schema)
            pause_point("write")

        meta = {META_KEY: json.dumps(record, default=str)}
        path = str(self.table_path(dataset))
        write_deltalake(
            path,
            pa.RecordBatchReader.from_batches(schema, batches()),
            mode="overwrite",
            predicate=predicate,
            partition_by=partition_by,
            commit_properties=CommitProperties(custom_metadata=meta),
        )
        table = DeltaTable(path)
        version = table.version()
        if version and version % 25 == 0:
            table.create_checkpoint()
        return version

    def _replace_partition(
        self, dataset: str, staged: Path, partition: dict[str, str], record: dict
    ) -> int:
        """Replace one whole partition by the staged file itself: the file is moved into the
        table (partition values live in the log, not in the file) and committed by one
        overwrite of that partition. Nothing is rewritten, so memory stays flat at any size;
        a kill between the move and the commit leaves an orphan that `vacuum` removes."""
        root = self.table_path(dataset)
        rel = "/".join(f"{k}={v}" for k, v in partition.items())
        rel += f"/part-{record['load_id']}.zstd.parquet"
        schema = pq.read_schema(staged)
        for name in partition:
            schema = schema.append(pa.field(name, pa.string()))
        rows = pq.ParquetFile(staged).metadata.num_rows
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged, target)
        pause_point("write")
        add = AddAction(
            path=rel,
            size=target.stat().st_size,
            partition_values=partition,
            modification_time=int(target.stat().st_mtime * 1000),
            data_change=True,
            stats=json.dumps({"numRecords": rows}),
        )
        commit = CommitProperties(custom_metadata={META_KEY: json.dumps(record, default=str)})
        table = self.table(dataset)
        if table is None:
            create_table_with_add_actions(
                str(root),
                DeltaSchema.from_arrow(schema),
                [add],
                mode="error",
                partition_by=list(partition),
                commit_properties=commit,
            )
        else:
            table.create_write_transaction(
                [add],
                mode="overwrite",
                schema=schema,
                partition_by=list(partition),
                partition_filters=[(k, "=", v) for k, v in partition.items()],
                commit_properties=commit,
            )
        table = DeltaTable(str(root))
        version = table.version()
        if version and version % 25 == 0:
            table.create_checkpoint()
        return version

    def replace_rows(
        self,
        dataset: str,
        table_decl: Table,
        staged: Path,
        predicate: str,
        result: LoadResult,
        partition_by: list[str] | None = None,
        constants: dict[str, str] | None = None,
    ) -> int:
        """Commit a staged, validated file into `dataset`, replacing rows matching `predicate`.

        For datasets other than cost_lines (gpu_util by host and hour range, assets by site).
        The caller holds `writer()`; `staged` must already conform to `table_decl`.
        """
        problems = validate(pl.scan_parquet(staged), table_decl)
        if problems:
            raise InputError(
                f"{len(problems)} contract violation(s): "
                + "; ".join(str(p) for p in problems[:5]),
                file=result.files[0].path if result.files else dataset,
            )
        started = datetime.now(UTC)
        record = self._record(result, started)
        version = self._replace(dataset, staged, constants or {}, predicate, record, partition_by)
        result.table_version = version
        record["table_version"] = version
        record["finished_at"] = self._committed_at(dataset).isoformat()
        self._append_loads([record])
        return version

    def replace_derived(
        self,
        dataset: str,
        table_decl: Table,
        staged: Path,
        replace: list[dict[str, str]] | None,
        partition_by: list[str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> int:
        """One Delta commit replacing part of a derived dataset (classifications, gpu_hours)
        by staged files, which are moved into the table rather than rewritten.

        `staged` is one Parquet file (unpartitioned datasets), or for `partition_by` a folder
        of `col=value/.../*.parquet` files without the partition columns, as DuckDB's
        `COPY ... (PARTITION_BY ...)` writes them. `replace` names the partitions whose files
        the commit removes (None: every file of the table); a staged partition outside it is
        a bug. Derived data is rebuilt from loaded data, so no `loads` record is written;
        `metadata` goes into the commit's info. The caller holds `writer()`. A kill between
        the move and the commit leaves orphans that `vacuum` removes.
        """
        keys = partition_by or []
        files = self._staged_files(staged, keys)
        if replace is not None:
            allowed = {tuple(p[k] for k in keys) for p in replace}
            stray = [v for _, v in files if tuple(v[k] for k in keys) not in allowed]
            if stray:
                raise WarehouseError(
                    f"derived dataset {dataset} staged partitions it was not asked to replace: "
                    f"{stray[:3]}",
                    hint="this is a bug in the derived-data code; nothing was committed",
                )
        for path, _ in files:
            self._check_derived(dataset, table_decl, path)
        table = self.table(dataset)
        missing = [] if table is None or replace is None else missing_columns(table, table_decl)
        if missing:  # the files kept would read the new columns as NULL
            raise WarehouseError(
                f"derived dataset {dataset} lacks columns {missing} and only some of its "
                "partitions were to be replaced",
                hint="this is a bug in the derived-data code; nothing was committed",
            )
        root = self.table_path(dataset)
        tag = new_load_id()
        adds = []
        for n, (path, values) in enumerate(files):
            rel = "/".join([*(f"{k}={values[k]}" for k in keys), f"part-{tag}-{n:05d}.parquet"])
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            rows = pq.ParquetFile(path).metadata.num_rows
            os.replace(path, target)
            stat = target.stat()
            adds.append(
                AddAction(
                    path=rel,
                    size=stat.st_size,
                    partition_values=values,
                    modification_time=int(stat.st_mtime * 1000),
                    data_change=True,
                    stats=json.dumps({"numRecords": rows}),
                )
            )
        pause_point(f"derived:{dataset}")
        schema = table_decl.empty().to_arrow().schema  # declared types, every column nullable
        for name in keys:
            schema = schema.append(pa.field(name, pa.string()))
        commit = CommitProperties(custom_metadata=metadata) if metadata else None
        if table is None:
            create_table_with_add_actions(
                str(root), DeltaSchema.from_arrow(schema), adds, mode="error", partition_by=keys,
                commit_properties=commit,
            )  # fmt: skip
        elif replace is None:  # every file replaced; the declared schema, new columns too
            table.create_write_transaction(
                adds, mode="overwrite", schema=schema, partition_by=keys or None,
                commit_properties=commit,
            )  # fmt: skip
        else:
            removes = self._files_in(table, keys, replace)
            table.create_write_transaction(
                [*removes, *adds], mode="append", schema=schema, partition_by=keys or None,
                commit_properties=commit,
            )  # fmt: skip
        table = DeltaTable(str(root))
        version = table.version()
        if version and version % 25 == 0:
            table.create_checkpoint()
        return version

    @staticmethod
    def _staged_files(staged: Path, keys: list[str]) -> list[tuple[Path, dict[str, str]]]:
        if not keys:
            return [(staged, {})]
        out = []
        for path in sorted(staged.rglob("*.parquet")):
            parts = path.relative_to(staged).parts[:-1]
            values = dict(p.split("=", 1) for p in parts)
            if sorted(values) != sorted(keys):
                raise WarehouseError(f"staged file {path} is not partitioned by {keys}")
            out.append((path, values))
        return out

    @staticmethod
    def _check_derived(dataset: str, table_decl: Table, path: Path) -> None:
        """The staged file against its contract (one streaming pass, bounded memory)."""
        names = pq.read_schema(path).names
        missing = [c for c in table_decl.names if c not in names]
        problems = [Violation(c, "missing column", 1) for c in missing]
        if not problems:
            problems = validate(pl.scan_parquet(path).select(table_decl.names), table_decl)
        if problems:
            raise WarehouseError(
                f"derived dataset {dataset} breaks its contract: "
                + "; ".join(str(p) for p in problems[:5]),
                hint="this is a bug in the derived-data code; nothing was committed",
            )

    @staticmethod
    def partition_files(
        table: DeltaTable, keys: list[str], wanted: list[dict[str, str]] | None
    ) -> pl.DataFrame:
        """The table's current files (`path`, `size_bytes`, `partition.<key>`...) in the
        `wanted` partitions (None: all of them)."""
        actions = pl.DataFrame(table.get_add_actions(flatten=True))
        if wanted is not None and actions.height:
            picked = pl.DataFrame(
                [[p[k] for k in keys] for p in wanted],
                schema=[f"partition.{k}" for k in keys],
                orient="row",
            )
            actions = actions.join(picked, on=picked.columns, how="semi")
        return actions

    def _files_in(
        self, table: DeltaTable, keys: list[str], replace: list[dict[str, str]] | None
    ) -> list[RemoveAction]:
        """Remove actions for the table's current files in the `replace` partitions."""
        actions = self.partition_files(table, keys, replace)
        now = int(time.time() * 1000)
        return [
            RemoveAction(
                path=row["path"],
                data_change=True,
                deletion_timestamp=now,
                size=row["size_bytes"],
                partition_values={k: row[f"partition.{k}"] for k in keys} or None,
            )
            for row in actions.iter_rows(named=True)
        ]

    # ---- loads ----------------------------------------------------------------------------

    def _committed_at(self, dataset: str) -> datetime:
        """When the commit just made (the writer holds the lock: it is the latest) became
        visible: a load's finished_at, so `--as-of` that time reads that load's version."""
        table = self.table(dataset)
        assert table is not None
        return commit_time(table.history(1)[0]["timestamp"])

    @staticmethod
    def _record(result: LoadResult, started: datetime) -> dict:
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

    def _append_loads(self, records: list[dict]) -> None:
        frame = pl.DataFrame(
            [
                {
                    **r,
                    "source_total": None
                    if r["source_total"] is None
                    else Decimal(r["source_total"]),
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
        write_deltalake(str(self.table_path("loads")), frame.to_arrow(), mode="append")

    def record_error(self, dataset: str, source: str, target: str, error: Exception) -> None:
        """Keep a failed load's message for the Data health page; nothing else changes.
        A damaged warehouse is not written to at all."""
        if isinstance(error, DamagedWarehouseError) or not self._writable():
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
            self.root.mkdir(parents=True, exist_ok=True)
            write_deltalake(str(self.table_path("load_errors")), frame.to_arrow(), mode="append")

    def _writable(self) -> bool:
        """Whether a record can be added (tried with a file, not guessed from mode bits: a
        read-only mount or a dropped capability says no only when asked)."""
        try:
            folder = self.table_path("load_errors")
            folder = folder if folder.is_dir() else self.root if self.root.is_dir() else None
            if folder is None:
                return True  # a warehouse not made yet: the write creates it
            tempfile.TemporaryFile(dir=folder).close()
        except OSError:
            return False
        return True

    def _repair_loads(self) -> None:
        """Restore loads records of commits whose process died before recording them."""
        loads = self.table("loads")
        known: set[str] = set()
        if loads is not None:
            known = set(pl.from_arrow(loads.to_pyarrow_table().select(["load_id"]))["load_id"])
        missing = []
        for dataset in ("cost_lines", "gpu_util", "assets"):
            table = self.table(dataset)
            if table is None:
                continue
            for entry in table.history():
                raw = entry.get(META_KEY)
                if not raw:
                    continue
                record = json.loads(raw)
                if record["load_id"] not in known:
                    record["table_version"] = entry["version"]
                    record["finished_at"] = commit_time(entry["timestamp"]).isoformat()
                    missing.append(record)
                    known.add(record["load_id"])
        if missing:
            self._append_loads(missing)

    # ---- housekeeping ---------------------------------------------------------------------

    def vacuum(self, older_than_days: float | None = None, dry_run: bool = False) -> list[str]:
        """Remove files no version needs: staging leftovers and data files no commit references.

        With `older_than_days`, history older than that is also dropped (Delta vacuum), so
        `--as-of` can no longer reach those versions. Only a readable warehouse is vacuumed:
        a folder that is missing, is not a warehouse, or has a table Delta cannot read is
        refused before anything is removed (or created).
        """
        from ingest.delta_log import TABLES
        from ingest.health_check import guard

        self._require_warehouse(TABLES)
        try:
            guard(self.root)  # a broken log would make live files look unused
        except DamagedWarehouseError as exc:
            exc.message += "; vacuum removed nothing"
            raise
        removed: list[str] = []
        with self.writer():
            staging = self.root / "_staging"
            if staging.is_dir():
                for entry in sorted(staging.iterdir()):
                    if not STAGED_NAME.match(entry.name):
                        continue  # not a name the store writes: not ours to delete
                    removed.append(str(entry))
                    if dry_run:
                        continue
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry)
                    else:
                        entry.unlink()
                if not dry_run and not any(staging.iterdir()):
                    staging.rmdir()
            for dataset in TABLES:
                table = self.table(dataset)
                if table is None:
                    continue
                if older_than_days is not None:
                    removed += table.vacuum(
                        retention_hours=int(older_than_days * 24),
                        enforce_retention_duration=False,
                        dry_run=dry_run,
                    )
                    table = DeltaTable(str(self.table_path(dataset)))
                removed += self._remove_orphans(dataset, table, dry_run)
        return removed

    def _require_warehouse(self, tables: Iterable[str]) -> None:
        """A warehouse is a folder with at least one of our tables holding a Delta log."""
        if not self.root.is_dir():
            raise WarehouseError(
                "no warehouse here: the folder does not exist; nothing was removed or created",
                file=str(self.root),
                hint="give the warehouse folder with --warehouse (or $FINOPS_WAREHOUSE)",
            )
        if not any((self.root / name / "_delta_log").is_dir() for name in tables):
            raise WarehouseError(
                "not a finops warehouse (none of its tables has a Delta log); vacuum removed "
                "nothing",
                file=str(self.root),
                expected="a folder holding cost_lines/_delta_log, loads/_delta_log, ...",
                hint="check --warehouse; if the logs were deleted, restore them from a backup",
            )

    def _remove_orphans(self, dataset: str, table: DeltaTable, dry_run: bool) -> list[str]:
        root = self.table_path(dataset)
        current = {_local_path(u) for u in table.file_uris()}
        lost = sorted(p for p in current if not os.path.exists(p))
        if lost:  # the current version's files must be where vacuum looks, or it stops
            raise WarehouseError(
                f"{dataset}: {len(lost)} file(s) of the current version are not where the "
                f"table says, e.g. {lost[0]}; vacuum removed nothing from it",
                hint="restore the files (or the warehouse from a backup) before vacuuming",
            )
        referenced: set[str] = set(current)
        oldest = min((h["version"] for h in table.history()), default=0)
        for version in range(oldest, table.version() + 1):
            try:
                snap = DeltaTable(str(root), version=version)
            except Exception as exc:  # a version vacuum cannot see might reference any file
                raise DamagedWarehouseError(
                    f"{dataset}: version {version} cannot be read ({str(exc).splitlines()[0]}); "
                    "vacuum removed nothing from it",
                    file=str(self.root),
                    hint="run `finops check` to see what to do",
                ) from None
            referenced.update(_local_path(u) for u in snap.file_uris())
        removed = []
        for path in root.rglob("*.parquet"):
            if "_delta_log" in path.parts:
                continue
            if _local_path(str(path)) not in referenced:
                removed.append(str(path))
                if not dry_run:
                    path.unlink()
        return removed
