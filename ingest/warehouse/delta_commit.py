"""Generic Delta commits: replace a partition or the rows matching a predicate by staged
files, in exactly one commit each. The writer (ingest/warehouse/store.py) is the only caller; only
this module and the writer's own modules spell a Delta predicate.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake import Schema as DeltaSchema
from deltalake.transaction import AddAction, RemoveAction, create_table_with_add_actions

from ingest.warehouse import commit_race, loads_log
from ingest.warehouse.connection import missing_columns
from ingest.warehouse.load_contract import LoadResult, new_load_id
from ingest.warehouse.loads_log import META_KEY
from ingest.warehouse.location import Location, ObjectPath, delta_options, open_delta, put
from ingest.warehouse.pause import pause_point
from models.errors import InputError, WarehouseError
from models.schema import Table, Violation, validate

if TYPE_CHECKING:
    from ingest.warehouse.store import Store


def replace(
    store: Store,
    dataset: str,
    staged: Path,
    constants: dict[str, str],
    predicate: str,
    record: dict,
    partition_by: list[str] | None,
) -> int:
    """One Delta commit replacing the rows matching `predicate` by the staged file's rows.

    On object storage the commit is based on the snapshot the load pinned and carries its
    predicate, so deltalake refuses it when another writer added rows matching it since
    (commit_race.py); a commit that only moves a file in would not be checked that way."""
    whole = " AND ".join(f"{k} = '{v}'" for k, v in constants.items())
    remote = isinstance(store.root, ObjectPath)
    if constants and partition_by == list(constants) and predicate == whole and not remote:
        # only when the predicate is the whole partition (gpu_util narrows it by host)
        return replace_partition(store, dataset, staged, constants, record)
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
    path = str(store.table_path(dataset))

    def write(target: str | DeltaTable) -> None:
        write_deltalake(
            target,
            pa.RecordBatchReader.from_batches(schema, batches()),
            mode="overwrite",
            predicate=predicate,
            partition_by=partition_by,
            commit_properties=CommitProperties(custom_metadata=meta),
            storage_options=None if isinstance(target, DeltaTable) else delta_options(path),
        )

    base = store.pinned(dataset) if remote else None
    try:
        write(base if base is not None else path)
    except Exception as exc:
        # two first loads racing to make the table: the loser commits on the table made,
        # unless the winner's commit holds rows of the same partition
        if base is not None or not remote or not commit_race.lost(exc):
            raise
        fresh = store.table(dataset)
        if fresh is None or partition_files(fresh, list(constants), [constants]).height:
            raise
        write(fresh)
    table, version = _own_commit(path, record["load_id"])
    if version and version % 25 == 0:
        table.create_checkpoint()
    return version


def _own_commit(path: str, load_id: str, tries: int = 5) -> tuple[DeltaTable, int]:
    """The table and the version this load just committed. Read again a few times: with
    another writer racing on object storage, a first read has been seen to come back with
    no version at all."""
    for attempt in range(tries):
        table = open_delta(path)
        version = version_of(table, load_id)
        if version >= 0:
            return table, version
        time.sleep(0.2 * 2**attempt)
    raise WarehouseError(
        f"the load {load_id} was committed but its commit cannot be read back",
        file=path,
        hint="run `finops check`, then `finops loads` to see whether it is there",
        retryable=True,
    )


def replace_partition(
    store: Store, dataset: str, staged: Path, partition: dict[str, str], record: dict
) -> int:
    """Replace one whole partition by the staged file itself: the file is moved into the
    table (partition values live in the log, not in the file) and committed by one
    overwrite of that partition. Nothing is rewritten, so memory stays flat at any size;
    a kill between the move and the commit leaves an orphan that `vacuum` removes."""
    root = store.table_path(dataset)
    rel = "/".join(f"{k}={v}" for k, v in partition.items())
    rel += f"/part-{record['load_id']}.zstd.parquet"
    schema = pq.read_schema(staged)
    for name in partition:
        schema = schema.append(pa.field(name, pa.string()))
    rows = pq.ParquetFile(staged).metadata.num_rows
    size, mtime = place(staged, root, rel)
    pause_point("write")
    add = AddAction(
        path=rel,
        size=size,
        partition_values=partition,
        modification_time=mtime,
        data_change=True,
        stats=json.dumps({"numRecords": rows}),
    )
    commit = CommitProperties(custom_metadata={META_KEY: json.dumps(record, default=str)})
    # a local folder only (object storage commits through `replace`'s predicate): the writer
    # lock is held, so the current version is what the load checked plus its own commits
    table = store.table(dataset)
    if table is None:
        try:
            create_table_with_add_actions(
                str(root),
                DeltaSchema.from_arrow(schema),
                [add],
                mode="error",
                partition_by=list(partition),
                commit_properties=commit,
                storage_options=delta_options(root),
            )
        except Exception as exc:  # another writer's first load made the table first
            if not commit_race.lost(exc):
                raise
            table = store.table(dataset)
    if table is not None:
        table.create_write_transaction(
            [add],
            mode="overwrite",
            schema=schema,
            partition_by=list(partition),
            partition_filters=[(k, "=", v) for k, v in partition.items()],
            commit_properties=commit,
        )
    table = open_delta(root)
    version = version_of(table, record["load_id"])
    if version and version % 25 == 0:
        table.create_checkpoint()
    return version


def replace_rows(
    store: Store,
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
            f"{len(problems)} contract violation(s): " + "; ".join(str(p) for p in problems[:5]),
            file=result.files[0].path if result.files else dataset,
        )
    started = datetime.now(UTC)
    record = loads_log.record(result, started)
    version = replace(store, dataset, staged, constants or {}, predicate, record, partition_by)
    result.table_version = version
    record["table_version"] = version
    record["finished_at"] = loads_log.committed_at(store, dataset).isoformat()
    loads_log.append(store, [record])
    return version


def replace_derived(
    store: Store,
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
    files = _staged_files(staged, keys)
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
        _check_derived(dataset, table_decl, path)
    table = store.table(dataset)
    missing = [] if table is None or replace is None else missing_columns(table, table_decl)
    if missing:  # the files kept would read the new columns as NULL
        raise WarehouseError(
            f"derived dataset {dataset} lacks columns {missing} and only some of its "
            "partitions were to be replaced",
            hint="this is a bug in the derived-data code; nothing was committed",
        )
    if table is not None and replace is None and table.metadata().partition_columns != keys:
        return _repartition(store, dataset, table_decl, files, keys, metadata)
    root = store.table_path(dataset)
    tag = new_load_id()
    adds = []
    for n, (path, values) in enumerate(files):
        rel = "/".join([*(f"{k}={values[k]}" for k in keys), f"part-{tag}-{n:05d}.parquet"])
        rows = pq.ParquetFile(path).metadata.num_rows
        size, mtime = place(path, root, rel)
        adds.append(
            AddAction(
                path=rel,
                size=size,
                partition_values=values,
                modification_time=mtime,
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
            commit_properties=commit, storage_options=delta_options(root),
        )  # fmt: skip
    elif replace is None:  # every file replaced; the declared schema, new columns too
        table.create_write_transaction(
            adds, mode="overwrite", schema=schema, partition_by=keys or None,
            commit_properties=commit,
        )  # fmt: skip
    else:
        removes = _files_in(table, keys, replace)
        table.create_write_transaction(
            [*removes, *adds], mode="append", schema=schema, partition_by=keys or None,
            commit_properties=commit,
        )  # fmt: skip
    table = open_delta(root)
    version = table.version()
    if version and version % 25 == 0:
        table.create_checkpoint()
    return version


def _repartition(
    store: Store,
    dataset: str,
    table_decl: Table,
    files: list[tuple[Path, dict[str, str]]],
    keys: list[str],
    metadata: dict[str, str] | None,
) -> int:
    """Replace a derived table stored with other partition columns (an older finops) by the
    staged files, in one commit that also changes its partitioning. The rows are rewritten
    rather than moved, so this is for the small tables whose layout changed (idle_episodes)."""
    pause_point(f"derived:{dataset}")
    schema = table_decl.empty().to_arrow().schema
    for name in keys:
        schema = schema.append(pa.field(name, pa.string()))
    parts = []
    for path, values in files:
        data = pq.read_table(path).select(table_decl.names)
        for name in keys:
            data = data.append_column(name, pa.array([values[name]] * data.num_rows, pa.string()))
        parts.append(data.cast(schema))
    commit = CommitProperties(custom_metadata=metadata) if metadata else None
    root = store.table_path(dataset)
    write_deltalake(
        str(root), pa.concat_tables(parts) if parts else schema.empty_table(), mode="overwrite",
        schema_mode="overwrite", partition_by=keys or None, commit_properties=commit,
        storage_options=delta_options(root),
    )  # fmt: skip
    for path, _ in files:
        path.unlink(missing_ok=True)
    return open_delta(root).version()


def version_of(table: DeltaTable, load_id: str) -> int:
    """The version the load `load_id` committed: the latest, unless another writer (on
    object storage) has committed since."""
    for entry in table.history(50):
        raw = entry.get(META_KEY)
        if raw and json.loads(raw).get("load_id") == load_id:
            return int(entry["version"])
    return table.version()


def place(staged: Path, root: Location, rel: str) -> tuple[int, int]:
    """Move a staged file into the table at `root` as `rel` (uploaded, on object storage);
    returns its size and modification time (ms) for the commit's add action."""
    if isinstance(root, ObjectPath):
        return put(staged, root / rel), int(time.time() * 1000)
    target = root / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staged, target)
    stat = target.stat()
    return stat.st_size, int(stat.st_mtime * 1000)


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
    table: DeltaTable, keys: list[str], replace: list[dict[str, str]] | None
) -> list[RemoveAction]:
    """Remove actions for the table's current files in the `replace` partitions."""
    actions = partition_files(table, keys, replace)
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
