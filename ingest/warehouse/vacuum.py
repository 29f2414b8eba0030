"""Vacuum: remove what no version of the warehouse needs.

Staging leftovers (only the names the writer itself gives, STAGED_NAME), data files no
commit references (a kill between moving a file into a table and committing it leaves
one), and with a retention, history older than that.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from deltalake import DeltaTable

from ingest.warehouse.connection import local_path
from ingest.warehouse.delta_log import TABLES
from ingest.warehouse.health_check import guard
from ingest.warehouse.location import ObjectPath, open_delta, staging_root
from models.errors import DamagedWarehouseError, WarehouseError

if TYPE_CHECKING:
    from ingest.warehouse.store import Store

# What the store and the derived-data code leave in _staging/: `<load id>[-dataset].parquet`,
# `<dataset>-<load id>[.parquet]` and DuckDB's `duckdb-<uuid>` spill folders. Vacuum removes
# these names only, so a file someone else put there is never deleted.
_LOAD_ID = r"\d{8}T\d{6}Z-[0-9a-f]{8}"
STAGED_NAME = re.compile(
    rf"^(?:(?:[a-z_]+-)?{_LOAD_ID}(?:-[a-z_]+)?(?:\.parquet)?|duckdb-[0-9a-f]{{32}})$"
)


def _local_path(uri: str) -> str:
    """One spelling of a data file's location, whether Delta gives it as an absolute path or
    a file:// URI and the table was opened by a relative path (`./data/warehouse`, the
    default) or through a symlink: vacuum compares the two, and a mismatch would read every
    live file as an orphan."""
    return os.path.normcase(os.path.realpath(local_path(uri)))


def vacuum(store: Store, older_than_days: float | None = None, dry_run: bool = False) -> list[str]:
    """Remove files no version needs: staging leftovers and data files no commit references.

    With `older_than_days`, history older than that is also dropped (Delta vacuum), so
    `--as-of` can no longer reach those versions. Only a readable warehouse is vacuumed:
    a folder that is missing, is not a warehouse, or has a table Delta cannot read is
    refused before anything is removed (or created).
    """
    _require_warehouse(store, TABLES)
    try:
        guard(store.root)  # a broken log would make live files look unused
    except DamagedWarehouseError as exc:
        exc.message += "; vacuum removed nothing"
        raise
    removed: list[str] = []
    with store.writer():
        remote = isinstance(store.root, ObjectPath)
        staging = staging_root(store.root) if remote else store.root / "_staging"
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
            table = store.table(dataset)
            if table is None:
                continue
            if older_than_days is not None:
                removed += table.vacuum(
                    retention_hours=int(older_than_days * 24),
                    enforce_retention_duration=False,
                    dry_run=dry_run,
                )
                table = open_delta(store.table_path(dataset))
            if remote:
                removed += _remove_remote_orphans(store, dataset, table, dry_run)
            else:
                removed += _remove_orphans(store, dataset, table, dry_run)
    return removed


def _require_warehouse(store: Store, tables: Iterable[str]) -> None:
    """A warehouse is a folder with at least one of our tables holding a Delta log."""
    if not store.root.is_dir():
        raise WarehouseError(
            "no warehouse here: the folder does not exist; nothing was removed or created",
            file=str(store.root),
            hint="give the warehouse folder with --warehouse (or $FINOPS_WAREHOUSE)",
        )
    if not any((store.root / name / "_delta_log").is_dir() for name in tables):
        raise WarehouseError(
            "not a finops warehouse (none of its tables has a Delta log); vacuum removed nothing",
            file=str(store.root),
            expected="a folder holding cost_lines/_delta_log, loads/_delta_log, ...",
            hint="check --warehouse; if the logs were deleted, restore them from a backup",
        )


# On object storage no lock keeps another writer out: a file it uploaded and has not yet
# committed looks unused, so only files older than any load's upload-to-commit time go.
REMOTE_ORPHAN_AGE_S = 6 * 3600


def _remove_remote_orphans(
    store: Store, dataset: str, table: DeltaTable, dry_run: bool
) -> list[str]:
    """`_remove_orphans` for a table on object storage, by listing rather than walking."""
    from pyarrow import fs

    root = store.table_path(dataset)
    assert isinstance(root, ObjectPath)
    remote, prefix = root.filesystem()
    referenced = _referenced(store, dataset, table, lambda u: unquote(u.partition("://")[2]))
    cutoff = time.time() - REMOTE_ORPHAN_AGE_S
    removed = []
    for info in remote.get_file_info(fs.FileSelector(prefix, recursive=True)):
        if info.type != fs.FileType.File or not info.path.endswith(".parquet"):
            continue
        if "/_delta_log/" in f"/{info.path}" or info.path in referenced:
            continue
        if info.mtime is not None and info.mtime.timestamp() > cutoff:
            continue  # perhaps a load's upload whose commit is on its way
        removed.append(f"{root.scheme}://{info.path}")
        if not dry_run:
            remote.delete_file(info.path)
    return removed


def _referenced(
    store: Store, dataset: str, table: DeltaTable, name: Callable[[str], str]
) -> set[str]:
    """Every data file (as `name` spells its URI) that some kept version of the table uses."""
    root = store.table_path(dataset)
    referenced: set[str] = set()
    oldest = min((h["version"] for h in table.history()), default=0)
    for version in range(oldest, table.version() + 1):
        try:
            snap = open_delta(root, version=version)
        except Exception as exc:  # a version vacuum cannot see might reference any file
            raise DamagedWarehouseError(
                f"{dataset}: version {version} cannot be read ({str(exc).splitlines()[0]}); "
                "vacuum removed nothing from it",
                file=str(store.root),
                hint="run `finops check` to see what to do",
            ) from None
        referenced.update(name(u) for u in snap.file_uris())
    return referenced


def _remove_orphans(store: Store, dataset: str, table: DeltaTable, dry_run: bool) -> list[str]:
    root = store.table_path(dataset)
    current = {_local_path(u) for u in table.file_uris()}
    lost = sorted(p for p in current if not os.path.exists(p))
    if lost:  # the current version's files must be where vacuum looks, or it stops
        raise WarehouseError(
            f"{dataset}: {len(lost)} file(s) of the current version are not where the "
            f"table says, e.g. {lost[0]}; vacuum removed nothing from it",
            hint="restore the files (or the warehouse from a backup) before vacuuming",
        )
    referenced = current | _referenced(store, dataset, table, _local_path)
    removed = []
    for path in root.rglob("*.parquet"):
        if "_delta_log" in path.parts:
            continue
        if _local_path(str(path)) not in referenced:
            removed.append(str(path))
            if not dry_run:
                path.unlink()
    return removed
