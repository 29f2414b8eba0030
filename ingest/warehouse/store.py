"""The warehouse writer — the only code that changes the warehouse (DESIGN §5).

Readers hand it load packages (ingest/warehouse/load_contract.py); it stages, validates, reconciles
and commits them. This module holds the warehouse's paths and tables and the writer lock; the work
is split by concern:

- ingest/warehouse/cost_line_load.py: cost lines staged, validated, reconciled, shrink-checked,
  committed
- ingest/warehouse/scoped_load.py: gpu_util, assets and training_runs, replaced by host and hour
  range, by site, or by a cluster's jobs or hours
- ingest/warehouse/delta_commit.py: the generic Delta commits (partition, predicate, derived data)
- ingest/warehouse/loads_log.py: the `loads` records, their repair after a crash, `load_errors`
- ingest/warehouse/vacuum.py: staging leftovers, orphan files and old history

Only one writer at a time in a local folder (an advisory lock file); readers never take it.
On object storage there is no lock: each Delta commit is a conditional write, so of two
writers that race the loser's commit fails, and it retries on the fresh snapshot or fails
clearly (ingest/warehouse/commit_race.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from ingest.sources.input_path import os_error
from ingest.warehouse import cost_line_load, delta_commit, loads_log, scoped_load
from ingest.warehouse.connection import damaged, location
from ingest.warehouse.cost_line_load import line_id_base, safe_part
from ingest.warehouse.load_contract import (
    CHUNK_ROWS,
    AssetsLoad,
    HourlyLoad,
    LoadResult,
    PeriodLoad,
    Progress,
    RunsLoad,
    ServingLoad,
    SourceFile,
    new_load_id,
)
from ingest.warehouse.loads_log import META_KEY
from ingest.warehouse.location import Location, ObjectPath, is_remote, open_delta, staging_root
from models.errors import WarehouseError
from models.schema import Table
from models.shrink import DEFAULT_MAX_SHRINK

# Names other modules have always imported from here.
__all__ = [
    "CHUNK_ROWS",
    "META_KEY",
    "LoadResult",
    "PeriodLoad",
    "Progress",
    "SourceFile",
    "Store",
    "line_id_base",
    "new_load_id",
    "safe_part",
    "writing",
]

LOCK_NAME = ".writer.lock"  # the writer's advisory lock, in the warehouse folder
WATCH_LOCK_NAME = ".watch.lock"  # one `finops watch` pass at a time (Store.watcher)


def writing(root: Path | str) -> bool:
    """Whether a writer holds the warehouse's lock now (readers never take it; this probe
    takes a shared lock for an instant and creates nothing)."""
    if is_remote(root):
        return False  # object storage: no lock to probe (see the module's docstring)
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


class Store:
    """Writer over one warehouse folder."""

    def __init__(self, root: Location | str):
        self.root = location(root)
        # snapshots a load decided on (checked for shrinking, for an identical reload): its
        # commit is based on them, so another writer's commit since then is a conflict
        self._pinned: dict[str, DeltaTable | None] = {}

    # ---- paths and tables ---------------------------------------------------------------

    def table_path(self, name: str) -> Location:
        return self.root / name

    def table(self, name: str) -> DeltaTable | None:
        """The table's current version; None when it has no commit yet (the writer checked
        at `writer()` that no table lost its log). A log Delta cannot read is damage, never
        an empty table (`finops check` says what to do)."""
        try:
            return open_delta(self.table_path(name))
        except TableNotFoundError:
            return None
        except Exception as exc:  # DeltaError, DeltaProtocolError, OSError...
            raise damaged(self.root, name, exc) from None

    def pin(self, name: str, version: int | None = None) -> None:
        """Base the coming commits to `name` on its version now, or on `version` (a load's
        own last commit, so its next period's commit does not race itself; commit_race.py).
        Object storage only: in a folder the writer lock keeps the table as the load saw it."""
        if not is_remote(self.root):
            return
        if version is None:
            self._pinned[name] = self.table(name)
        else:
            self._pinned[name] = open_delta(self.table_path(name), version=version)

    def pinned(self, name: str) -> DeltaTable | None:
        """The pinned snapshot of `name` (else its current version)."""
        return self._pinned[name] if name in self._pinned else self.table(name)

    @contextlib.contextmanager
    def writer(self, wait_s: float = 600.0) -> Iterator[None]:
        """Exclusive writer lock; waits for another ingest to finish rather than failing.
        A warehouse this process may not write (permissions, a read-only mount) is refused
        here, before anything is read or staged. On object storage nothing is locked: the
        commits' conditional writes are the guard."""
        from ingest.warehouse.health_check import guard

        if isinstance(self.root, ObjectPath):
            guard(self.root)
            loads_log.repair(self)
            yield
            return
        busy = "another finops process is writing to the warehouse"
        with self._exclusive(LOCK_NAME, wait_s, busy):
            guard(self.root)  # never write over a broken log or around lost files
            loads_log.repair(self)
            yield

    @contextlib.contextmanager
    def watcher(
        self, wait_s: float = 600.0, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """One `finops watch` pass at a time: a second waits (`on_wait` is told once) for the
        first to finish, then reads what it recorded, so an alert is never sent by both. Its
        own lock, not the writer's: a pass never waits for an ingest, nor an ingest for a pass
        delivering to a slow receiver. On object storage there is no lock (as for writers):
        two passes at the same moment may both send, under the same alert id."""
        if isinstance(self.root, ObjectPath):
            yield
            return
        busy = "another finops watch is still running on this warehouse"
        with self._exclusive(WATCH_LOCK_NAME, wait_s, busy, on_wait):
            yield

    @contextlib.contextmanager
    def _exclusive(
        self, name: str, wait_s: float, busy: str, on_wait: Callable[[], None] | None = None
    ) -> Iterator[None]:
        """An advisory lock file `name` in the warehouse folder, held exclusively; waits up to
        `wait_s` for another holder, then fails saying `busy`."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock = (self.root / name).open("a+")
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
                            f"{busy} (waited {wait_s:g} s)",
                            file=str(self.root),
                            hint="wait for it to finish, then run again",
                            retryable=True,
                        ) from None
                    if on_wait is not None:
                        on_wait()
                        on_wait = None
                    time.sleep(0.2)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def staging_dir(self) -> Path:
        """A local folder for staged files (for object storage, under the temp folder: files
        are staged locally, then uploaded into the table by the commit)."""
        path = (
            staging_root(self.root) if isinstance(self.root, ObjectPath) else self.root / "_staging"
        )
        path.mkdir(parents=True, exist_ok=True)
        return path

    def drop_empty_staging(self) -> None:
        """Remove _staging when nothing is left in it (a vacuumed warehouse has none)."""
        with contextlib.suppress(OSError):
            self.staging_dir().rmdir()  # refuses a folder that is not empty

    # ---- loads (each in its own module) ---------------------------------------------------

    def load_cost_lines(
        self,
        batches: Iterable[PeriodLoad],
        progress: Progress | None = None,
        allow_shrink: bool = False,
        max_shrink: float = DEFAULT_MAX_SHRINK,
    ) -> list[LoadResult]:
        """Stage, validate and reconcile every batch, then commit each as one Delta commit
        (ingest/warehouse/cost_line_load.py)."""
        return cost_line_load.load(self, batches, progress, allow_shrink, max_shrink)

    def load_gpu_util(self, load: HourlyLoad) -> list[LoadResult]:
        """Replace the source's GPU-hours of the load's hosts and hours
        (ingest/warehouse/scoped_load.py)."""
        return scoped_load.load_gpu_util(self, load)

    def load_serving_usage(self, load: ServingLoad) -> list[LoadResult]:
        """Replace the source's serving usage of the load's hosts and hours
        (ingest/warehouse/scoped_load.py)."""
        return scoped_load.load_serving_usage(self, load)

    def load_assets(self, load: AssetsLoad) -> LoadResult:
        """Replace the assets of the load's sites (ingest/warehouse/scoped_load.py)."""
        return scoped_load.load_assets(self, load)

    def load_training_runs(self, load: RunsLoad) -> LoadResult | None:
        """Replace a cluster's training-run allocations in the load's scope
        (ingest/warehouse/scoped_load.py)."""
        return scoped_load.load_training_runs(self, load)

    def replace_derived(
        self,
        dataset: str,
        table_decl: Table,
        staged: Path,
        replace: list[dict[str, str]] | None,
        partition_by: list[str] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> int:
        """One Delta commit replacing part of a derived dataset (ingest/warehouse/delta_commit.py).
        The caller holds `writer()`."""
        return delta_commit.replace_derived(
            self, dataset, table_decl, staged, replace, partition_by, metadata
        )

    partition_files = staticmethod(delta_commit.partition_files)

    def record_error(self, dataset: str, source: str, target: str, error: Exception) -> None:
        """Keep a failed load's message for the Data health page (ingest/warehouse/loads_log.py)."""
        loads_log.record_error(self, dataset, source, target, error)

    # ---- housekeeping ---------------------------------------------------------------------

    def vacuum(self, older_than_days: float | None = None, dry_run: bool = False) -> list[str]:
        """Remove files no version needs (ingest/warehouse/vacuum.py)."""
        from ingest.warehouse import vacuum

        return vacuum.vacuum(self, older_than_days, dry_run)
