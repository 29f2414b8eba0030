"""What a reader hands the writer: the load package and the results it gets back.

Readers only read. Each source module turns its input into PeriodLoads (cost lines of one
source, billing account and period), an HourlyLoad (GPU-hours and the hosts and hours they
replace) or an AssetsLoad (an inventory's servers and the sites they replace); the writer
(ingest/warehouse/store.py and the modules it delegates to) stages, validates, reconciles and
commits them and builds the LoadResults. Nothing here does I/O beyond hashing a source file.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl

# (what is happening, done, total): the progress callback a command shows as a bar.
Progress = Callable[[str, int, int], None]
# Rows staged at a time: memory follows this, not the size of the billing period.
CHUNK_ROWS = 100_000


def new_load_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ-") + uuid.uuid4().hex[:8]


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
    for the period at scale 12, computed by the reader independently of `lines`; a reader
    whose `pieces` sum it from the source rows as they pass leaves it None until the last
    piece is taken (the store reconciles after staging every piece).
    `pieces`, when a reader can offer it, yields the same rows in the same order as frames of
    about CHUNK_ROWS rows (e.g. from Parquet row groups); otherwise polars streams `lines`.
    `by_file`, when a reader can offer it, yields the same rows split by source file, in
    order: an engine may normalise each file in a task of its own (ingest/engines/).
    """

    source: str
    billing_account: str
    billing_period: str  # YYYY-MM
    currency: str
    files: list[SourceFile]
    lines: pl.LazyFrame
    source_total: Decimal | None
    label: str = ""  # what to call the batch in messages (a folder, a URI)
    pieces: Callable[[], Iterator[pl.DataFrame]] | None = None
    by_file: list[Callable[[], Iterator[pl.DataFrame]]] | None = None

    def chunks(self) -> Iterator[pl.DataFrame]:
        """The period's rows in order, a bounded number at a time."""
        if self.pieces is not None:
            return self.pieces()
        return iter(self.lines.collect_batches(chunk_size=CHUNK_ROWS))


@dataclass(frozen=True)
class HourlyLoad:
    """GPU-hours of one telemetry ingest. The writer replaces this source's rows for exactly
    the hosts and hour range the rows cover (its replace scope), one commit a month."""

    source: str  # prometheus | nvidia-smi | cloudwatch
    rows: pl.DataFrame  # columns of gpu_util except source and x_LoadId
    files: list[SourceFile]
    label: str


@dataclass(frozen=True)
class ServingLoad:
    """Hourly serving usage of one serving-metrics ingest (models.serving.SERVING_USAGE). Like
    GPU-hours, it replaces this source's rows for exactly its hosts and hour range."""

    source: str  # prometheus | cloudwatch
    rows: pl.DataFrame  # columns of serving_usage except source and x_LoadId
    files: list[SourceFile]
    label: str
    # only this namespace's rows are replaced: a SageMaker load is one region's, and an
    # endpoint of the same name in another region is another endpoint
    namespace: str | None = None


@dataclass(frozen=True)
class AssetsLoad:
    """An inventory's servers. The writer replaces the assets of `sites` (its replace scope)
    with `rows`, in one commit."""

    rows: pl.DataFrame  # columns of assets except x_LoadId
    sites: list[str]
    files: list[SourceFile]
    label: str
    source: str = "onprem"


@dataclass(frozen=True)
class RunsLoad:
    """Training-run allocations of one scheduler (Slurm, Kubernetes) and cluster. The writer
    replaces that cluster's rows of the same jobs (Slurm) or the same hours (Kubernetes,
    whose runs are seen hour by hour) with `rows`, in one commit."""

    source: str  # slurm | kubernetes
    cluster: str
    rows: pl.DataFrame  # columns of training_runs except x_LoadId
    files: list[SourceFile]
    label: str


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
